"""Hostile submissions are graded to the right score, in bounded time, without harm."""

from __future__ import annotations

import json
import time

import pytest

from autograder.sandbox.client import bwrap_available
from tests.grading import grade, grade_sources
from tests.submissions.hostile import HOSTILE

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
    assert len(HOSTILE) >= 8


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_graded_to_the_right_score(graded, case):
    g = graded[case.name]
    assert g.returncode == 0, g.stderr
    status = g.results["extra_data"]["grading_status"]
    assert status == ("could_not_grade" if case.could_not_grade else "graded")
    for tag, want in case.expected.items():
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
