"""The result model, its totals, and its formats."""

from __future__ import annotations

import json

import pytest

from autograder.files import write_json_atomic
from autograder.grading.gradescope import from_gradescope, to_gradescope
from autograder.grading.results import GradingResult, TestResult
from autograder.grading.runner import grader_failure
from autograder.grading.table import render_table


def sample() -> GradingResult:
    return GradingResult(
        tests=[
            TestResult("a", "1.1", "add_batchnorm", 4, 4, "Passed."),
            TestResult("b", "1.2", "add_batchnorm", 3, 0, "Expected: x\nGot: y\nHint: z"),
            TestResult("c", "6.1", "bonus", 3, 3),
            TestResult("d", "0.1", "integrity", 0, 0, "Passed."),
            TestResult(
                "e", "0.2", "integrity", 0, 0, "Expected: a\nGot: b\nHint: c", outcome="failed"
            ),
        ],
        grader_version="1.0.0",
    )


def test_totals_exclude_bonus_from_the_maximum():
    r = sample()
    assert r.score == 7 and r.max_score == 7 and r.bonus_score == 3
    assert r.by_tag()["add_batchnorm"] == (4, 7)
    assert [t.status for t in r.tests] == ["passed", "failed", "passed", "passed", "failed"]


def test_unknown_tags_are_refused():
    with pytest.raises(ValueError, match="unknown tag"):
        TestResult("x", "1.1", "style", 1)


def test_gradescope_round_trip(tmp_path):
    data = to_gradescope(sample())
    path = write_json_atomic(data, tmp_path / "out" / "results.json")
    loaded = json.loads(path.read_text())
    again = from_gradescope(loaded)
    assert [(t.name, t.score, t.tag) for t in again.tests] == [
        (t.name, t.score, t.tag) for t in sample().tests
    ]
    assert loaded["tests"][0]["tags"] == ["add_batchnorm"]
    assert not list(tmp_path.glob("out/.*tmp"))


def test_malformed_results_are_reported():
    with pytest.raises(ValueError, match="tests"):
        from_gradescope({"score": 1})
    with pytest.raises(ValueError, match="exactly one tag"):
        from_gradescope({"tests": [{"name": "x", "score": 1, "max_score": 1, "tags": []}]})
    one = {"name": "x", "score": 1, "max_score": 1, "tags": ["bonus"]}
    for bad in ("nan", "inf", 1e999):
        with pytest.raises(ValueError, match="score is not a finite number"):
            from_gradescope({"tests": [{**one, "score": bad}]})
        with pytest.raises(ValueError, match="'execution_time' is not a finite number"):
            from_gradescope({"tests": [one], "execution_time": bad})


def test_table_shows_feedback_of_failed_checks_only():
    table = render_table(sample())
    assert "Hint: z" in table and "Passed." not in table and "TOTAL" in table


def test_a_grader_failure_is_a_visible_zero_with_the_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        r = grader_failure("sub", exc, 1.0)
    data = to_gradescope(r)
    assert data["score"] == 0 and data["tests"][0]["status"] == "failed"
    assert "could not grade" in data["tests"][0]["name"].lower()
    assert "RuntimeError: boom" in data["extra_data"]["traceback"]
    assert data["extra_data"]["grading_status"] == "grader_error"


def test_the_score_reads_the_same_everywhere_main_part_and_bonus_apart():
    from autograder.grading.results import GradingResult, TestResult

    tests = [
        TestResult(name="a", number="1.1", tag="add_batchnorm", max_score=100.0, score=83.0),
        TestResult(name="b", number="6.1", tag="bonus", max_score=10.0, score=10.0),
    ]
    result = GradingResult(tests=tests)
    assert result.score_line() == "93/100: 83 + 10 bonus"
    assert "Score: 93/100: 83 + 10 bonus" in to_gradescope(result)["output"]
    assert "93/100: 83 + 10 bonus" in render_table(result)
    tests[1].score = 0.0
    assert result.score_line() == "83/100"
