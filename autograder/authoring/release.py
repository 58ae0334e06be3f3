"""``python -m autograder release OUT_DIR``: write the student repository.

The student repository holds the template exercise, the student README, REFERENCE.md, the public
tests and ``exercise_utils.py`` (everything under ``assignment/`` except data and caches), the
pinned ``requirements.txt``, a ``.gitignore``, the workflow that runs the public tests on every push
(``.github/workflows/public-tests.yml`` with its summary script) and the manifest of protected
files with their SHA-256 hashes (``.github/autograder-manifest.json``).

Nothing of ``solutions/`` nor of the hidden checks (``autograder/grading/checks/``) may reach it:
``find_leaks`` looks for them in every file and ``release`` refuses to write when it finds any.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__
from autograder.authoring.manifest import MANIFEST_PATH, Manifest
from autograder.paths import (
    ASSIGNMENT_DIR,
    CHECKS_DIR,
    EXERCISE_FILE,
    REPO_ROOT,
    SOLUTION_PATH,
    SOLUTIONS_DIR,
)

RELEASE_FILES_DIR = Path(__file__).resolve().parent / "release_files"
WORKFLOW_PATH = ".github/workflows/public-tests.yml"

# Parts of assignment/ that never go to students.
_EXCLUDED_DIRS = {
    "data",
    "runs",
    "runs_unstable",
    "__pycache__",
    ".pytest_cache",
    ".ipynb_checkpoints",
}
_EXCLUDED_NAMES = {"runs.png", ".DS_Store"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}

# release_files/ name -> path in the student repository
_RELEASE_FILE_TARGETS = {"gitignore": ".gitignore"}
# A released file leaks the hidden checks when it shares this many lines with them that are not
# idioms of public code (see ``public_idioms``).
MIN_SHARED_LINES = 2
_SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN")


class ReleaseError(Exception):
    """The release cannot be written; the message says why and what to do."""


@dataclass
class ReleaseResult:
    out_dir: Path
    files: list[str]
    manifest: Manifest
    commit: str | None = None
    removed: list[str] = field(default_factory=list)


def _excluded(rel: Path) -> bool:
    return (
        any(part in _EXCLUDED_DIRS for part in rel.parts[:-1])
        or rel.name in _EXCLUDED_NAMES
        or rel.suffix in _EXCLUDED_SUFFIXES
        or rel.parts[0] in _EXCLUDED_DIRS
    )


def student_material(assignment_dir: Path = ASSIGNMENT_DIR) -> dict[str, bytes]:
    """Every file of ``assignment/`` that students get (path relative to it -> content)."""
    if not (assignment_dir / EXERCISE_FILE).is_file():
        raise ReleaseError(
            f"{assignment_dir / EXERCISE_FILE} is missing: generate the student template first "
            "(python -m autograder template)"
        )
    files: dict[str, bytes] = {}
    for path in sorted(assignment_dir.rglob("*")):
        rel = path.relative_to(assignment_dir)
        if path.is_dir() or _excluded(rel):
            continue
        if path.is_symlink():
            raise ReleaseError(f"{path} is a symbolic link; the release copies regular files only")
        files[rel.as_posix()] = path.read_bytes()
    return files


def release_files() -> dict[str, bytes]:
    """The files this module adds: requirements, .gitignore, workflow and its script."""
    files: dict[str, bytes] = {}
    for path in sorted(RELEASE_FILES_DIR.rglob("*")):
        rel = path.relative_to(RELEASE_FILES_DIR)
        if path.is_dir() or _excluded(rel):
            continue
        posix = rel.as_posix()
        if rel.parts[0] == "github":
            posix = "." + posix
        files[_RELEASE_FILE_TARGETS.get(posix, posix)] = path.read_bytes()
    return files


def build_release(assignment_dir: Path = ASSIGNMENT_DIR) -> dict[str, bytes]:
    """The whole student repository in memory: path -> content, manifest included.

    The release's own files (requirements, workflow, .gitignore) take precedence over files of
    the same name under ``assignment/``.
    """
    files = student_material(assignment_dir)
    files.update(release_files())
    files[MANIFEST_PATH] = Manifest.from_files(files).to_json().encode()
    return dict(sorted(files.items()))


# ---------------------------------------------------------------------------- leak detection


def _function_bodies(source: str) -> dict[str, str]:
    """Qualified name -> ast dump of the body without its docstring, for every function."""
    bodies: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                body = child.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)
                ):
                    body = body[1:]
                bodies[name] = ast.dump(ast.Module(body=body, type_ignores=[]))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(ast.parse(source), "")
    return bodies


def hidden_check_lines(checks_dir: Path = CHECKS_DIR, min_length: int = 40) -> set[str]:
    """Distinctive source lines of the hidden checks (stripped, no imports, no comments)."""
    lines: set[str] = set()
    for path in sorted(checks_dir.rglob("*.py")) if checks_dir.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if len(s) < min_length or s.startswith(("#", "import ", "from ")):
                continue
            lines.add(s)
    return lines


def find_leaks(
    files: dict[str, bytes],
    *,
    solution_path: Path = SOLUTION_PATH,
    checks_dir: Path = CHECKS_DIR,
) -> list[str]:
    """Problems that would reveal the solution or the hidden checks (empty when clean)."""
    problems: list[str] = []
    if solution_path.is_file() and EXERCISE_FILE in files:
        solution = solution_path.read_text(encoding="utf-8")
        template = files[EXERCISE_FILE].decode("utf-8")
        sol = _function_bodies(solution)
        tpl = _function_bodies(template)
        for name, body in sorted(sol.items()):
            if (
                tpl.get(name) == body
                and "NotImplementedError" not in body
                and _is_solved(solution, name)
            ):
                problems.append(f"{EXERCISE_FILE}: {name} has the reference solution's body")
    secret_lines = hidden_check_lines(checks_dir)
    for rel, data in sorted(files.items()):
        text = data.decode("utf-8", errors="replace")
        for marker in _SOLUTION_MARKERS:
            if marker in text:
                problems.append(f"{rel}: contains the marker {marker!r}")
        found = secret_lines & file_lines(rel, data)
        found -= public_idioms(frozenset(found))
        if len(found) >= MIN_SHARED_LINES:
            problems.append(f"{rel}: contains {len(found)} line(s) of the hidden checks")
    return problems


def public_code_dirs() -> list[Path]:
    """Folders of public Python code: the standard library and the course's libraries."""
    dirs = [Path(sysconfig.get_paths()["stdlib"])]
    for name in ("torch", "torchvision", "numpy", "pytest", "_pytest", "matplotlib"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.submodule_search_locations:
            dirs += [Path(p) for p in spec.submodule_search_locations]
    return [d for d in dirs if d.is_dir()]


@functools.lru_cache(maxsize=32)
def public_idioms(lines: frozenset[str]) -> frozenset[str]:
    """Those of ``lines`` that occur in public code (``public_code_dirs``): idioms, no secret.

    ``module = importlib.util.module_from_spec(spec)`` is in the hidden checks and in the public
    tests alike because it is how Python loads a module from a file, as the standard library does.
    """
    if not lines:
        return frozenset()
    dirs = [str(d) for d in public_code_dirs()]
    grep = shutil.which("grep")
    if grep:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as patterns:
            patterns.write("\n".join(sorted(lines)) + "\n")
            patterns.flush()
            proc = subprocess.run(
                [grep, "-rhoF", "--include=*.py", "-f", patterns.name, *dirs],
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
            )
        found = {line.strip() for line in proc.stdout.splitlines()}
        return frozenset(lines & found)
    found: set[str] = set()
    for d in dirs:
        for path in Path(d).rglob("*.py"):
            text = path.read_text(encoding="utf-8", errors="replace")
            found |= {line for line in lines - found if line in text}
    return frozenset(found)


def file_lines(name: str, data: bytes) -> set[str]:
    """The stripped lines of a file; of a notebook, the lines of its cells' sources."""
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".ipynb"):
        try:
            cells = json.loads(text).get("cells", [])
            text = "\n".join(
                "".join(c["source"]) if isinstance(c.get("source"), list) else str(c["source"])
                for c in cells
                if isinstance(c, dict) and "source" in c
            )
        except (ValueError, AttributeError, KeyError, TypeError):
            pass  # not JSON after all: compare its raw lines
    return {line.strip() for line in text.splitlines() if line.strip()}


def _is_solved(solution: str, qualified_name: str) -> bool:
    """Whether the solution marks ``qualified_name``'s body as a solution block."""
    tree = ast.parse(solution)
    lines = solution.splitlines()
    node: ast.AST = tree
    for part in qualified_name.split("."):
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and child.name == part
            ):
                node = child
                break
        else:
            return False
    start, end = node.lineno - 1, node.end_lineno or node.lineno
    body = "\n".join(lines[start:end])
    return "BEGIN SOLUTION" in body


# ---------------------------------------------------------------------------- writing


def _check_out_dir(out_dir: Path) -> None:
    resolved = out_dir.resolve()
    for forbidden in (REPO_ROOT, ASSIGNMENT_DIR, SOLUTIONS_DIR, CHECKS_DIR.parent):
        if resolved == forbidden or resolved in forbidden.parents or forbidden in resolved.parents:
            inside_scratch = (
                forbidden == REPO_ROOT
                and REPO_ROOT in resolved.parents
                and resolved.relative_to(REPO_ROOT).parts[0] in ("build", ".data")
            )
            if inside_scratch:
                continue
            raise ReleaseError(
                f"refusing to release into {out_dir}: it overlaps {forbidden} "
                "(pick a directory outside this repository, or under build/)"
            )
    if resolved.exists() and not resolved.is_dir():
        raise ReleaseError(f"{out_dir} exists and is not a directory")


def _git(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _git_identity(cwd: Path) -> list[str]:
    """``-c user.name=... -c user.email=...`` when git has no identity configured."""
    have = subprocess.run(
        ["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True, check=False
    )
    if have.returncode == 0 and have.stdout.strip():
        return []
    return [
        "-c",
        "user.name=Course staff",
        "-c",
        "user.email=course-staff@users.noreply.github.com",
    ]


def release(
    *,
    out_dir: str | os.PathLike,
    force: bool = False,
    git_init: bool = False,
    commit_message: str | None = None,
    assignment_dir: Path = ASSIGNMENT_DIR,
) -> ReleaseResult:
    """Write the student repository into ``out_dir``.

    ``out_dir`` must be empty or missing; with ``force`` its contents are replaced (a ``.git``
    folder is kept, so that a checkout of the template repository can be refreshed). With
    ``git_init`` the result is committed (``git init -b main`` first when it is no repository).
    Raises ReleaseError, before writing anything, when the release would leak a secret, or
    for a ``commit_message`` without ``git_init``.
    """
    if commit_message is not None and not git_init:
        raise ReleaseError("--message is the commit message of --git-init: add --git-init")
    out = Path(out_dir)
    _check_out_dir(out)
    files = build_release(assignment_dir)
    leaks = find_leaks(files)
    if leaks:
        raise ReleaseError("the release would reveal secrets:\n  " + "\n  ".join(leaks))

    removed: list[str] = []
    if out.is_dir():
        existing = sorted(p for p in out.iterdir() if p.name != ".git")
        if existing and not force:
            names = ", ".join(p.name for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
            raise ReleaseError(
                f"{out} is not empty ({names}); pass --force to replace its contents"
            )
        for p in existing:
            removed.append(p.name)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    result = ReleaseResult(
        out_dir=out, files=list(files), manifest=Manifest.from_files(files), removed=removed
    )
    if git_init:
        if not (out / ".git").exists():
            _git(["init", "--quiet", "-b", "main"], out)
        _git(["add", "--all", "."], out)
        status = _git(["status", "--porcelain"], out)
        if status:
            message = commit_message or f"Assignment template (autograder {__version__})"
            _git([*_git_identity(out), "commit", "--quiet", "-m", message], out)
        result.commit = _git(["rev-parse", "HEAD"], out)
    return result


# ---------------------------------------------------------------------------- CLI glue


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="where to write the student repository")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the contents of a non-empty OUT_DIR (its .git folder is kept)",
    )
    parser.add_argument(
        "--git-init",
        action="store_true",
        help="make OUT_DIR a git repository (branch main) and commit the release",
    )
    parser.add_argument("--message", help="commit message for --git-init (only with it)")


def run(args: argparse.Namespace) -> int:
    try:
        result = release(
            out_dir=args.out_dir,
            force=args.force,
            git_init=args.git_init,
            commit_message=args.message,
        )
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(result.files)} files to {result.out_dir}")
    print(f"protected files in {MANIFEST_PATH}: {len(result.manifest.files)}")
    if result.commit:
        print(f"committed {result.commit}")
    return 0
