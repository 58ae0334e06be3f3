"""``release``: the student repository has the right files, nothing secret, is written safely."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import _pytest
import pytest
import torch

from autograder.authoring import release as rel
from autograder.authoring.manifest import MANIFEST_PATH, Manifest
from autograder.cli import main as cli_main
from autograder.paths import (
    ASSIGNMENT_DIR,
    CHECKS_DIR,
    EXERCISE_FILE,
    REPO_ROOT,
    SOLUTION_PATH,
    SOLUTIONS_DIR,
)

SUMMARY_SCRIPT = rel.RELEASE_FILES_DIR / "github" / "scripts" / "public_tests_summary.py"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "student-repo"
    result = rel.release(out_dir=out, git_init=True)
    assert result.commit
    return out


def released_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def student_material() -> list[str]:
    """Every file under assignment/ except data/, __pycache__/, *.pyc, runs.png."""
    found = []
    for p in sorted(ASSIGNMENT_DIR.rglob("*")):
        r = p.relative_to(ASSIGNMENT_DIR)
        if p.is_dir() or r.parts[0] == "data" or "__pycache__" in r.parts:
            continue
        if p.suffix == ".pyc" or p.name == "runs.png" or ".pytest_cache" in r.parts:
            continue
        found.append(r.as_posix())
    return found


# ---------------------------------------------------------------------------- contents


def test_release_has_the_student_material(released: Path) -> None:
    files = released_files(released)
    for name in student_material():
        if name in ("requirements.txt", ".gitignore"):
            continue  # the release's own versions win
        assert files[name] == (ASSIGNMENT_DIR / name).read_bytes(), name
    for name in (
        EXERCISE_FILE,
        "exercise_utils.py",
        "requirements.txt",
        ".gitignore",
        ".github/workflows/public-tests.yml",
        ".github/scripts/public_tests_summary.py",
        MANIFEST_PATH,
    ):
        assert name in files, name
    assert not any(n.startswith("data/") or n.endswith(".pyc") for n in files)


def test_release_includes_readme_reference_and_public_tests(released: Path) -> None:
    files = released_files(released)
    assert "README.md" in files and "REFERENCE.md" in files
    assert any(re.fullmatch(r"tests/test_\w+\.py", n) for n in files)


def test_requirements_are_pinned(released: Path) -> None:
    lines = (released / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if line.strip() and not line.startswith("#"))
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert {"pytest", "matplotlib", "tqdm", "numpy"} <= set(pins)
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in pins.values()), pins


def test_manifest_hashes_the_protected_files(released: Path) -> None:
    files = released_files(released)
    manifest = json.loads(files[MANIFEST_PATH])["files"]
    expected = {
        n
        for n in files
        if n in ("requirements.txt", "exercise_utils.py") or n.startswith(("tests/", ".github/"))
    } - {MANIFEST_PATH}
    assert set(manifest) == expected
    for name, digest in manifest.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert EXERCISE_FILE not in manifest
    assert Manifest.from_json(files[MANIFEST_PATH].decode()).check(released) == []


def test_manifest_detects_every_kind_of_change(released: Path, tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "r"
    shutil.copytree(released, repo, ignore=shutil.ignore_patterns(".git"))
    manifest = Manifest.from_json((repo / MANIFEST_PATH).read_text())
    (repo / "requirements.txt").write_text("torch\n")
    (repo / "exercise_utils.py").unlink()
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_mine.py").write_text("def test_x(): pass\n")
    (repo / ".github" / "workflows" / "mine.yml").write_text("on: push\n")
    changes = {str(c) for c in manifest.check(repo)}
    assert changes == {
        "requirements.txt (modified)",
        "exercise_utils.py (deleted)",
        "tests/test_mine.py (added)",
        ".github/workflows/mine.yml (added)",
    }
    from autograder.authoring.manifest import restore

    restore(repo, rel.build_release(), manifest.check(repo))
    assert manifest.check(repo) == []
    assert not (repo / "tests" / "test_mine.py").exists()


def test_git_init_commits_everything(released: Path) -> None:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"],
        cwd=released,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=released, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(tracked) == sorted(released_files(released))
    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=released, capture_output=True, text=True
    ).stdout.strip()
    assert branch == "main"


# ---------------------------------------------------------------------------- no secrets


def _bodies(source: str) -> dict[str, str]:
    """Qualified name -> ast dump of the body, for module-level functions and methods."""
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = ast.dump(ast.Module(node.body, []))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = ast.dump(ast.Module(item.body, []))
    return out


def solved_functions() -> list[str]:
    """Qualified names of the solution's functions and methods that hold a solution block."""
    source = SOLUTION_PATH.read_text(encoding="utf-8")
    lines = source.splitlines()
    names = []
    for node in ast.parse(source).body:
        pairs = [("", node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            pairs = [(node.name + ".", n) for n in node.body if isinstance(n, ast.FunctionDef)]
        for prefix, fn in pairs:
            if "BEGIN SOLUTION" in "\n".join(lines[fn.lineno - 1 : fn.end_lineno]):
                names.append(prefix + fn.name)
    return sorted(names)


def solution_lines() -> set[str]:
    """Lines of the solution's BEGIN/END SOLUTION blocks found nowhere else in the solution."""
    inside_lines, outside_lines, inside = set(), set(), False
    for line in SOLUTION_PATH.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if "BEGIN SOLUTION" in s:
            inside = True
        elif "END SOLUTION" in s:
            inside = False
        elif inside and len(s) >= 25 and not s.startswith(("#", "import ")):
            inside_lines.add(s)
        else:
            outside_lines.add(s)
    return inside_lines - outside_lines


def lines_of(name: str, data: bytes) -> set[str]:
    """Stripped lines of a released file; of a notebook, of its cells' sources."""
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        text = "\n".join("".join(c["source"]) for c in cells)
    return {line.strip() for line in text.splitlines()}


def hidden_identifiers_and_lines() -> tuple[set[str], set[str]]:
    """Names of the hidden checks' functions and their distinctive source lines."""
    names, lines = set(), set()
    for path in sorted(CHECKS_DIR.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and len(node.name) >= 12:
                names.add(node.name)
        for line in source.splitlines():
            s = line.strip()
            if len(s) >= 30 and not s.startswith(("#", "import ", "from ", '"""')):
                lines.add(s)
    return names, lines


def leaks_in(files: dict[str, bytes]) -> list[str]:
    """Hidden check names, solution lines, or 2+ lines of the hidden checks in released files.

    Lines that also occur in public code are idioms, not secrets: the public conftest and the
    hidden one both load a module with ``importlib.util.module_from_spec``, as the standard
    library does. A copied check shares dozens of lines.
    """
    names, check_lines = hidden_identifiers_and_lines()
    problems = []
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        lines = lines_of(name, data)
        problems += [f"{name}: hidden check {n}" for n in names if re.search(rf"\b{n}\b", text)]
        solution = (solution_lines() & lines) - idioms(solution_lines() & lines)
        problems += [f"{name}: secret line {s!r}" for s in sorted(solution)]
        shared = sorted((check_lines & lines) - idioms(check_lines & lines))
        if len(shared) >= 2:
            problems.append(f"{name}: hidden check lines {shared}")
    return problems


def idioms(lines: set[str]) -> set[str]:
    """Lines that also occur in the standard library, torch or pytest: public, not secret."""
    if not lines:
        return set()
    dirs = [sysconfig.get_paths()["stdlib"]]
    dirs += [str(Path(m.__file__).parent) for m in (torch, pytest, _pytest)]
    patterns = "\n".join(sorted(lines)) + "\n"
    proc = subprocess.run(
        ["grep", "-rhoF", "--include=*.py", "-f", "-", *dirs],
        input=patterns,
        capture_output=True,
        text=True,
        check=False,
    )
    return lines & {line.strip() for line in proc.stdout.splitlines()}


def test_the_secrets_exist_to_look_for() -> None:
    assert solved_functions(), "no BEGIN SOLUTION block in the reference solution?"
    assert len(solution_lines()) >= 10
    names, lines = hidden_identifiers_and_lines()
    assert len(names) >= 10 and len(lines) >= 50


def test_template_bodies_differ_from_the_solution(released: Path) -> None:
    template = _bodies((released / EXERCISE_FILE).read_text(encoding="utf-8"))
    solution = _bodies(SOLUTION_PATH.read_text(encoding="utf-8"))
    for name in solved_functions():
        assert name in template, f"{name} missing from the template"
        assert template[name] != solution[name], f"{name}: the template has the solution's body"
        assert "NotImplementedError" in template[name], name


def test_no_solution_or_hidden_check_in_any_released_file(released: Path) -> None:
    files = released_files(released)
    assert leaks_in(files) == []
    for path in sorted(SOLUTIONS_DIR.rglob("*")):
        if path.is_file() and path.name != "exercise_utils.py":
            assert path.read_bytes() not in files.values(), path.name
    for path in sorted(CHECKS_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".ini"):
            data = path.read_bytes()
            if len(data) > 50:
                assert data not in files.values(), path.name


def test_leak_detection_catches_a_planted_leak(released: Path) -> None:
    files = released_files(released)
    check = sorted(CHECKS_DIR.glob("check_*.py"))[0].read_bytes()
    planted = dict(files)
    planted["tests/test_leaky.py"] = check
    planted[EXERCISE_FILE] = SOLUTION_PATH.read_bytes()
    problems = leaks_in(planted)
    assert any(p.startswith("tests/test_leaky.py: hidden check ") for p in problems)
    assert any(p.startswith("tests/test_leaky.py: hidden check lines") for p in problems)
    assert any(p.startswith(f"{EXERCISE_FILE}: secret line") for p in problems)
    # the release's own guard agrees
    assert any("hidden checks" in p for p in rel.find_leaks(planted))
    assert any("reference solution's body" in p for p in rel.find_leaks(planted))


def test_release_refuses_to_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "assignment"
    fake.mkdir()
    (fake / EXERCISE_FILE).write_bytes(SOLUTION_PATH.read_bytes())
    with pytest.raises(rel.ReleaseError, match="reveal secrets"):
        rel.release(out_dir=tmp_path / "out", assignment_dir=fake)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- writing safely


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(rel.ReleaseError, match="not empty"):
        rel.release(out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert cli_main(["release", str(out)]) == 2


def test_force_replaces_contents_and_keeps_git(tmp_path: Path) -> None:
    out = tmp_path / "out"
    initial = rel.release(out_dir=out, git_init=True)
    (out / "stale.txt").write_text("old")
    (out / EXERCISE_FILE).write_text("edited")
    again = rel.release(out_dir=out, force=True, git_init=True)
    assert "stale.txt" in again.removed and not (out / "stale.txt").exists()
    assert (out / EXERCISE_FILE).read_bytes() == (ASSIGNMENT_DIR / EXERCISE_FILE).read_bytes()
    assert again.commit == initial.commit  # same content: nothing new to commit
    (out / "stale.txt").write_text("old")
    subprocess.run(["git", "add", "stale.txt"], cwd=out, check=True)
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-qm", "stale"],
        cwd=out,
        check=True,
    )
    refreshed = rel.release(out_dir=out, force=True, git_init=True, commit_message="Refresh")
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=out, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert log[:3] == ["Refresh", "stale", initial_message(initial)]
    assert refreshed.commit != initial.commit
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=out, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "stale.txt" not in tracked


def initial_message(result: rel.ReleaseResult) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%s", str(result.commit)],
        cwd=result.out_dir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_refuses_to_write_over_this_repository() -> None:
    for target in (REPO_ROOT, ASSIGNMENT_DIR, REPO_ROOT.parent):
        with pytest.raises(rel.ReleaseError, match="overlaps"):
            rel.release(out_dir=target, force=True)


def test_cli_release(tmp_path: Path, capsys) -> None:
    code = cli_main(["release", str(tmp_path / "out"), "--git-init"])
    assert code == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "committed" in out


# ---------------------------------------------------------------------------- job summary script

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" skipped="1">
<testcase classname="tests.test_public" name="test_ok" time="0.012"/>
<testcase classname="tests.test_public" name="test_bad[a|b]" time="1.5">
<failure message="AssertionError: expected 3">assert 2 == 3</failure></testcase>
<testcase classname="tests.test_public" name="test_later" time="0"><skipped message="todo"/>
</testcase></testsuite></testsuites>
"""


def run_summary(cwd: Path, report: Path, tmp_path: Path) -> str:
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run(
        [sys.executable, str(SUMMARY_SCRIPT), str(report)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return summary.read_text(encoding="utf-8")


def test_summary_table(released: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    text = run_summary(released, report, tmp_path)
    assert text.splitlines()[0] == "## Public tests: 1 passed, 1 failed, 1 skipped"
    assert "| ✅ | `test_public::test_ok` | passed | 0.01 |" in text
    assert "| ❌ | `test_public::test_bad[a\\|b]` | failed | 1.50 |" in text
    assert "assert 2 == 3" in text
    assert "Protected files were changed" not in text


def test_summary_without_report_and_with_tampering(released: Path, tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "r"
    shutil.copytree(released, repo, ignore=shutil.ignore_patterns(".git"))
    (repo / "requirements.txt").write_text("torch\n")
    text = run_summary(repo, tmp_path / "missing.xml", tmp_path)
    assert text.startswith("## Public tests did not run")
    assert "- `requirements.txt (modified)`" in text


def test_message_without_git_init_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli_main(["release", str(out), "--message", "Week 3"]) == 2
    assert (
        "--message is the commit message of --git-init: add --git-init" in capsys.readouterr().err
    )
    assert not out.exists()  # nothing written
