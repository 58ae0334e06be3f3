"""Student repositories for the grade-repos tests: real git repositories (bare, local) whose
commits are dated before and after a deadline, and a stand-in grader that honours the grader's
command-line contract (score 25 per function that does not raise NotImplementedError) and
records what it saw."""

from __future__ import annotations

import ast
import os
import subprocess
import textwrap
from pathlib import Path

from autograder.authoring.release import build_release
from autograder.paths import SOLUTION_PATH, TEMPLATE_PATH

DEADLINE = "2026-11-01T12:00:00+00:00"
BEFORE = "2026-10-25T10:00:00+00:00"
JUST_BEFORE = "2026-11-01T11:59:00+00:00"
AFTER = "2026-11-02T09:00:00+00:00"


def git(cwd: Path, *args: str, date: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    proc = subprocess.run(
        ["git", "-c", "user.name=Test Student", "-c", "user.email=student@example.org", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def commit_files(work: Path, files: dict[str, bytes | None], date: str, message: str) -> str:
    """Write (or delete, for None) files in the working repository and commit them at ``date``."""
    for rel, data in files.items():
        path = work / rel
        if data is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    git(work, "add", "--all", ".")
    git(work, "commit", "--quiet", "--allow-empty", "-m", message, date=date)
    return git(work, "rev-parse", "HEAD")


def student_repo(
    root: Path,
    name: str,
    history: list[tuple[str, dict[str, bytes | None]]],
    *,
    start: str = BEFORE,
) -> tuple[Path, list[str]]:
    """A bare repository ``root/repos/<name>.git``: the template at ``start``, then ``history``."""
    work = root / "work" / name
    work.mkdir(parents=True)
    git(work, "init", "--quiet", "-b", "main")
    shas = [commit_files(work, dict(build_release()), start, "Initial commit from template")]
    for date, files in history:
        shas.append(commit_files(work, files, date, f"work at {date}"))
    bare = root / "repos" / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(bare)], check=True)
    return bare, shas


def push_files(root: Path, name: str, files: dict[str, bytes | None], date: str) -> str:
    """A new commit in ``name``'s working repository at ``date``, pushed to its bare one."""
    work = root / "work" / name
    sha = commit_files(work, files, date, f"work at {date}")
    git(work, "push", "--quiet", str(root / "repos" / f"{name}.git"), "HEAD:main")
    return sha


def empty_repo(root: Path, name: str) -> Path:
    bare = root / "repos" / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    return bare


def partial_solution() -> bytes:
    """The template with the reference bodies of add_batchnorm and compute_grad_norm only."""
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    solution = SOLUTION_PATH.read_text(encoding="utf-8")

    def spans(source: str) -> dict[str, tuple[int, int]]:
        tree = ast.parse(source)
        return {
            n.name: (n.lineno - 1 - len(n.decorator_list), n.end_lineno or n.lineno)
            for n in tree.body
            if isinstance(n, ast.FunctionDef)
        }

    lines = template.splitlines()
    sol_lines = solution.splitlines()
    tpl_spans, sol_spans = spans(template), spans(solution)
    for name in sorted(("add_batchnorm", "compute_grad_norm"), key=lambda n: -tpl_spans[n][0]):
        a, b = tpl_spans[name]
        c, d = sol_spans[name]
        lines[a:b] = sol_lines[c:d]
    return ("\n".join(lines) + "\n").encode()


FAKE_GRADER = textwrap.dedent(
    """
    # Stand-in for `python -m autograder grade SUBMISSION --out JSON`: score = 25 per function
    # of the exercise that does not raise NotImplementedError; records what it was given.
    import ast, hashlib, json, os, pathlib, sys
    sub, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[3])
    script = sub / "batchnorm_gradclip_exercise.py"
    if script.is_file():
        text = script.read_text()
    else:  # the notebook edition alone: its code cells
        cells = json.loads((sub / "batchnorm_gradclip_exercise.ipynb").read_text())["cells"]
        text = "\\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                         and "active-ipynb" not in c.get("metadata", {}).get("tags", []))
    if os.environ.get("FAKE_GRADER_LOG"):  # who was graded, one line each
        with open(os.environ["FAKE_GRADER_LOG"], "a") as log:
            log.write(sub.parent.name + "\\n")
    if "CRASH_THE_GRADER" in text:
        print("Traceback: grader bug", file=sys.stderr)
        sys.exit(3)
    names = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs")
    done = [f for f in ast.parse(text).body if isinstance(f, ast.FunctionDef)
            and f.name in names and "NotImplementedError" not in ast.unparse(f)]
    score = 25.0 * len(done)
    seen = {p.relative_to(sub).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(sub.rglob("*")) if p.is_file() and ".git" not in p.parts}
    env_secrets = sorted(k for k in os.environ if "TOKEN" in k)
    asked = sys.argv[sys.argv.index("--isolation") + 1]
    isolation = os.environ.get("FAKE_REPORTED_ISOLATION") or asked.replace("auto", "process")
    json.dump({"score": score, "max_score": 100.0, "execution_time": 0.1, "output": "fake",
               "tests": [{"name": "fake", "number": "1.1", "score": score, "max_score": 100.0,
                          "status": "passed" if score == 100 else "failed", "output": "",
                          "tags": ["add_batchnorm"], "visibility": "visible"}],
               "extra_data": {"grading_status": "graded", "reason": "",
                              "grader_version": "fake-1", "seen": seen, "argv": sys.argv[1:],
                              "isolation": isolation, "env_secrets": env_secrets}}, out.open("w"))
    """
)
