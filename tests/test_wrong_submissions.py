"""Realistic mistakes lose points under the tag of the function they break, and nowhere else."""

from __future__ import annotations

import pytest

from tests.grading import grade_sources
from tests.submissions.wrong import WRONG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_sources({c.name: c.source() for c in WRONG}, tmp_path_factory.mktemp("wrong"))


def test_there_are_enough_distinct_mistakes():
    assert len(WRONG) >= 20
    assert len({c.name for c in WRONG}) == len(WRONG)
    assert {tag for c in WRONG for tag in c.breaks} >= {
        "add_batchnorm",
        "compute_grad_norm",
        "clip_gradients",
        "compare_runs",
        "bonus",
    }


@pytest.mark.parametrize("case", WRONG, ids=lambda c: c.name)
def test_points_lost_only_where_the_mistake_is(graded, case):
    g = graded[case.name]
    assert g.returncode == 0, g.stderr
    assert g.results["extra_data"]["grading_status"] == "graded"
    lost = g.lost_tags()
    assert case.breaks <= lost, f"{case.description}: expected to lose points in {case.breaks}"
    assert lost <= case.breaks | case.may_break, (
        f"{case.description}: lost points in {lost - case.breaks - case.may_break} too: "
        + "; ".join(t["output"][:300] for t in g.results["tests"] if t["status"] == "failed")
    )


@pytest.mark.parametrize("case", WRONG, ids=lambda c: c.name)
def test_feedback_says_what_and_how(graded, case):
    failed = [t for t in graded[case.name].results["tests"] if t["status"] == "failed"]
    assert failed
    for t in failed:
        out = t["output"]
        assert ("Expected:" in out and "Got:" in out and "Hint:" in out) or (
            "Your code raised" in out
        ), out
        assert "def check_" not in out and "autograder/checks" not in out  # no hidden source
