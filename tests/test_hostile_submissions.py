"""Hostile submissions are graded to the right score, in bounded time, without harm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from autograder.grading.results import MAX_OUTPUT_CHARS
from autograder.paths import SOLUTION_PATH
from autograder.sandbox.isolation import SANDBOX_ID_BASE, SANDBOX_PACKAGE_DIR, bwrap_available
from tests.grading import grade, grade_sources
from tests.submissions.hostile import ESCAPE_MARK, HOSTILE, REPORT

pytestmark = pytest.mark.slow
SECRETS = {"GITHUB_TOKEN": "ghp_SECRET_TOKEN_DO_NOT_LEAK", "CLASSROOM_TOKEN": "ghs_ALSO_SECRET"}
CASES = [c for c in HOSTILE if not c.needs_bwrap or bwrap_available()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    # every hostile submission is graded with fake secrets in the grader's environment
    return grade_sources(
        {c.name: c.source for c in CASES}, tmp_path_factory.mktemp("hostile"), env=SECRETS
    )


def test_there_are_enough_hostile_submissions():
    assert len(HOSTILE) >= 18


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_graded_to_the_right_score(graded, case):
    g = graded[case.name]
    assert g.returncode == 0, g.stderr
    status = g.results["extra_data"]["grading_status"]
    assert status == ("could_not_grade" if case.could_not_grade else "graded")
    for tag, want in case.expected.items():
        if want is not None:
            assert g.by_tag.get(tag, 0.0) == want, (tag, g.by_tag)
    if case.output_contains:
        text = g.results["output"] + " ".join(t["output"] for t in g.results["tests"])
        assert case.output_contains in text


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_graded_in_bounded_time(graded, case):
    assert graded[case.name].seconds < 240


def test_secrets_never_reach_the_results(graded):
    text = json.dumps(graded["steals_secrets"].results)
    assert "ENV:" in text  # the submission did run and report its environment...
    for secret in SECRETS.values():
        assert secret not in text  # ...which held none of the grader's secrets


def test_output_flood_is_capped(graded):
    r = graded["floods_output"].results
    assert len(r["extra_data"]["student_output"]) <= 70_000
    assert "more bytes of output dropped" in r["extra_data"]["student_output"]


def test_forged_results_are_overwritten_and_the_daemon_is_gone(graded):
    g = graded["forges_results_file"]
    time.sleep(2.0)  # the daemon (if it survived) rewrites every 0.5 s
    final = json.loads(g.out_path.read_text())
    assert final["tests"] and final["score"] == 0.0


def test_forged_results_without_bubblewrap(tmp_path):
    """Without namespaces the forger can see the grader's command line; it still loses."""
    case = next(c for c in HOSTILE if c.name == "forges_results_file")
    (tmp_path / "batchnorm_gradclip_exercise.py").write_text(case.source)
    g = grade(tmp_path, tmp_path / "results.json", isolation="process")
    time.sleep(2.0)
    final = json.loads((tmp_path / "results.json").read_text())
    assert final["tests"] and final["score"] == 0.0 and g.returncode == 0


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")
def test_reference_is_out_of_reach_only_with_bubblewrap(graded, tmp_path):
    assert graded["copies_hidden_reference"].results["score"] == 0.0
    # the same file does find the reference when only resource limits isolate it: the check
    # above is not vacuous, and `--isolation process` must not be used for untrusted code
    case = next(c for c in HOSTILE if c.name == "copies_hidden_reference")
    (tmp_path / "batchnorm_gradclip_exercise.py").write_text(case.source)
    g = grade(tmp_path, tmp_path / "results.json", isolation="process")
    assert g.results["score"] > 0


# --------------------------------------------------------------------------------------------
# Issue 10: privileges, data, the wire, the results file, limits
# --------------------------------------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot run here")


def _report(g) -> dict:
    """The JSON a submission put in its compute_grad_norm error ("REPORT:{...}")."""
    for t in g.results["tests"]:
        if REPORT in t["output"]:
            start = t["output"].index(REPORT) + len(REPORT)
            return json.JSONDecoder().raw_decode(t["output"][start:])[0]
    raise AssertionError("no report in the feedback")


def _planted_files() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    places = [site, site / "sympy", SANDBOX_PACKAGE_DIR, Path(os.__file__).parent]
    places += [Path("/usr/lib"), Path("/etc"), Path("/")]
    return [p / f"{ESCAPE_MARK}{ext}" for p in places for ext in (".pth", ".py")]


@needs_bwrap
def test_the_student_process_is_unprivileged_and_cannot_write_outside(graded):
    report = _report(graded["escapes_the_sandbox"])
    assert report["Uid"] != "0"
    assert report["CapEff"] == report["CapBnd"] == "0000000000000000"
    assert report["NoNewPrivs"] == "1"
    assert report["remounted"] == [] and report["written"] == []
    planted = [p for p in _planted_files() if p.exists()]
    for path in planted:  # never leave a planted .pth in the venv, even when failing
        path.unlink()
    assert planted == []


@needs_bwrap
def test_test_images_secrets_and_the_instructor_readme_are_out_of_reach(graded, tmp_path):
    report = _report(graded["hunts_test_data_and_secrets"])
    assert report == {"found": [], "shadow": False, "walked_all": True}
    # the same file finds them when only resource limits isolate it: the hunt is not vacuous
    case = next(c for c in HOSTILE if c.name == "hunts_test_data_and_secrets")
    (tmp_path / "batchnorm_gradclip_exercise.py").write_text(case.source)
    unsandboxed = _report(grade(tmp_path, tmp_path / "results.json", isolation="process"))
    assert unsandboxed["found"]
    assert any("bngc_autograder" in f or "__editable__" in f for f in unsandboxed["found"])
    assert unsandboxed["shadow"] == (os.geteuid() == 0)


def test_a_student_that_stops_reading_cannot_hang_the_grader(graded):
    g = graded["stops_reading_requests"]
    assert g.results["extra_data"]["grading_status"] == "graded"
    assert g.results["extra_data"]["process_starts"] >= 2  # stopped, and restarted for the rest
    assert g.seconds < 240


@pytest.mark.parametrize("name", ["raises_huge_surrogate_error", "forges_uncapped_error_reports"])
def test_huge_or_unencodable_error_messages_give_a_small_valid_results_file(graded, name):
    g = graded[name]
    raw = g.out_path.read_bytes()
    assert len(raw) < 300_000
    text = raw.decode("utf-8")  # strict: no lone surrogate reached the file
    json.loads(text)
    assert "\\u001b" not in text and "\x1b" not in text  # no terminal escape, raw or escaped
    for t in g.results["tests"]:
        assert len(t["output"]) <= MAX_OUTPUT_CHARS + 100
    feedback = " ".join(t["output"] for t in g.results["tests"] if "compute_grad_norm" in t["name"])
    assert "\ufffd" in feedback  # the surrogate and the escape, replaced


def test_a_deflate_bomb_is_refused_and_grading_goes_on(graded):
    g = graded["sends_a_deflate_bomb"]
    assert "compressed archive entry" in json.dumps(g.results)
    assert g.results["extra_data"]["process_starts"] > 1  # each bomb restarted the process


def _orphaned_sandbox_processes() -> list[int]:
    """Processes of a sandbox uid (SANDBOX_ID_BASE + its grader's pid) whose grader is gone."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(status.read_text().split("Uid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        if uid >= SANDBOX_ID_BASE and not Path(f"/proc/{uid - SANDBOX_ID_BASE}").exists():
            found.append(int(status.parent.name))
    return found


@needs_bwrap
def test_a_fork_bomb_is_contained_and_gone_after_grading(graded):
    assert graded["fork_bomb"].by_tag == graded["fork_bomb"].max_by_tag
    assert _orphaned_sandbox_processes() == []


@pytest.mark.parametrize("name", ["fork_bomb", "fills_tmp_and_shm", "raises_huge_surrogate_error"])
def test_the_honest_parts_are_not_flagged_as_tampering(graded, name):
    # the grader's probes and torch's own lazy patching change torch.manual_seed and
    # torch.optim.SGD.step: only what a submission changes is reported
    if name in ("fork_bomb", "fills_tmp_and_shm") and not bwrap_available():
        pytest.skip("graded only with bubblewrap")
    assert graded[name].results["extra_data"]["tampered_torch"] == []


def _unprivileged_python_problem() -> str | None:
    """Why the grader cannot be run here as an ordinary user (uid 65534), or None."""
    if os.geteuid() != 0:
        return "the tests already run as an ordinary user"
    landmark = Path(sysconfig.get_paths()["stdlib"]) / "os.py"
    probe = subprocess.run(
        [*AS_NOBODY, "/usr/bin/test", "-r", str(landmark)], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return (
            f"python under {sys.base_prefix} is not reachable by other users here "
            f"(uid 65534 cannot read {landmark})"
        )
    return None


AS_NOBODY = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_an_ordinary_user_grades_with_unprivileged_bubblewrap():
    problem = _unprivileged_python_problem()
    if problem:
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="bngc-as-nobody-") as folder:
        work = Path(folder)
        work.chmod(0o777)
        (work / "batchnorm_gradclip_exercise.py").write_text(SOLUTION_PATH.read_text())
        out = work / "results.json"
        cmd = [*AS_NOBODY, sys.executable, "-m", "autograder", "grade", str(work)]
        done = subprocess.run(
            [*cmd, "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HOME": folder},
        )
        assert done.returncode == 0, done.stderr
        results = json.loads(out.read_text())
    assert results["extra_data"]["isolation"] == "bwrap"
    assert results["score"] == 110.0
