"""The two anchors of the scale: the reference gets full marks, the template gets zero."""

from __future__ import annotations

import shutil

import pytest

from autograder.grading.results import TAGS
from autograder.paths import ASSIGNMENT_DIR, SOLUTIONS_DIR
from tests.grading import grade, grade_sources
from tests.submissions.wrong import WRONG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return grade(SOLUTIONS_DIR, tmp_path_factory.mktemp("ref") / "results.json")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    shutil.copy(ASSIGNMENT_DIR / "batchnorm_gradclip_exercise.py", folder)
    return grade(folder / "batchnorm_gradclip_exercise.py", folder / "results.json")


def test_reference_gets_full_marks_and_bonus(reference):
    r = reference.results
    assert reference.returncode == 0, reference.stderr
    assert r["max_score"] == 100.0
    assert r["score"] == 110.0, [t for t in r["tests"] if t["status"] != "passed"]
    assert all(t["status"] == "passed" for t in r["tests"])
    assert r["extra_data"]["grading_status"] == "graded"


def test_results_follow_the_contract(reference):
    r = reference.results
    assert set(r) >= {"score", "max_score", "execution_time", "output", "tests"}
    non_bonus = sum(t["max_score"] for t in r["tests"] if t["tags"] != ["bonus"])
    assert r["max_score"] == non_bonus == 100.0
    assert sum(t["max_score"] for t in r["tests"] if t["tags"] == ["bonus"]) == 10.0
    numbers = [t["number"] for t in r["tests"]]
    assert len(numbers) == len(set(numbers))
    for t in r["tests"]:
        assert set(t) >= {"name", "number", "score", "max_score", "status", "output", "tags"}
        assert len(t["tags"]) == 1 and t["tags"][0] in TAGS
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] == "visible"
    assert {t["tags"][0] for t in r["tests"]} == set(TAGS)


def test_template_gets_zero_with_feedback_everywhere(template):
    r = template.results
    assert template.returncode == 0
    assert r["score"] == 0.0 and r["max_score"] == 100.0
    assert r["extra_data"]["grading_status"] == "graded"
    for t in r["tests"]:
        if t["max_score"] > 0:
            assert t["status"] == "failed"
            assert "not implemented yet" in t["output"] and "Hint:" in t["output"], t


def test_same_submission_graded_twice_gets_the_same_scores(tmp_path):
    case = next(c for c in WRONG if c.name == "runs_mean_of_batch_means")
    first = grade_sources({"a": case.source(), "b": case.source()}, tmp_path)
    scores = [{t["number"]: t["score"] for t in g.results["tests"]} for g in first.values()]
    assert scores[0] == scores[1]
    assert first["a"].lost_tags() == {"compare_runs"}
