"""``DIR/feedback/<student>.md``: complete (score, commit, deadline, every visible check, each
failure's feedback, late and tamper notes) and nothing a student must not see."""

from __future__ import annotations

from typing import Any

from autograder.github import feedback as gh_feedback
from autograder.grading.results import COULD_NOT_GRADE, GRADER_ERROR

SHA = "4f2c3a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
SECRET = "ghp_this_token_must_never_appear"
HIDDEN_SOURCE = "def check_hidden(): assert reference_grad_norm(model) == 3.14159"


def check(number: str, name: str, score: float, max_score: float, **fields: Any) -> dict:
    tag = fields.pop("tag", "compute_grad_norm")
    status = "passed" if score >= max_score else "failed"
    return {
        "name": name,
        "number": number,
        "score": score,
        "max_score": max_score,
        "status": fields.pop("status", status),
        "output": fields.pop("output", ""),
        "tags": [tag],
        "visibility": fields.pop("visibility", "visible"),
    }


def results(**fields: Any) -> dict:
    data = {
        "score": 93.0,
        "max_score": 100.0,
        "output": "Score: 93/100: 83 + 10 bonus\nBy function: ...",
        "tests": [
            check("2.1", "compute_grad_norm: total 2-norm", 83.0, 83.0),
            check(
                "2.2",
                "compute_grad_norm: the inf norm",
                0.0,
                17.0,
                output="Expected: 7.0\nGot: 12.5\nHint: the largest absolute value",
            ),
            check("6.1", "bonus: ManualBatchNorm1d matches", 10.0, 10.0, tag="bonus"),
            check("9.9", "a hidden check", 0.0, 0.0, visibility="hidden", output=HIDDEN_SOURCE),
        ],
        "extra_data": {
            "grading_status": "graded",
            "instructor_notes": {"2.2": f"traceback ... {SECRET}"},
            "student_output": "printed by the student",
            "traceback": "grader traceback",
            "grade_repos": {"late_commits": [], "roster_line": 7},
        },
        "student": "alice",
        "repo": "https://github.com/course/bngc-alice.git",
        "commit": SHA,
        "committed_at": "2026-10-31T10:00:00+00:00",
        "deadline": "2026-11-01T12:00:00+00:00",
        "graded_at": "2026-11-01T12:30:00+00:00",
        "late": False,
        "tampered": [],
        "error": None,
        "raw_score": 93.0,
        "late_days": 0,
        "penalty": 0.0,
        "answers": {"Q2": "text", "Q1": "text"},
        "answers_source": "ANSWERS.md",
    }
    data.update(fields)
    return data


def test_a_graded_student_reads_everything_that_concerns_them() -> None:
    text = gh_feedback.render_feedback(results())
    assert text.startswith("# Autograder feedback\n\n**Score: 93/100: 83 + 10 bonus**\n")
    assert f"| Graded commit | {SHA} (2026-10-31T10:00:00+00:00) |" in text
    assert "| Deadline | 2026-11-01T12:00:00+00:00 |" in text
    assert "| Written answers | Q1, Q2 (from `ANSWERS.md`) |" in text
    assert "| 2.1 | compute_grad_norm: total 2-norm | 83/83 | ✅ |" in text
    assert "| 2.2 | compute_grad_norm: the inf norm | 0/17 | ❌ |" in text
    assert "| 6.1 | bonus: ManualBatchNorm1d matches | 10/10 | ✅ |" in text
    assert "### 2.2 compute_grad_norm: the inf norm (0/17)" in text
    assert "```text\nExpected: 7.0\nGot: 12.5\nHint: the largest absolute value\n```" in text


def test_nothing_the_student_must_not_see() -> None:
    text = gh_feedback.render_feedback(results())
    for secret in (SECRET, HIDDEN_SOURCE, "a hidden check", "printed by the student", "traceback"):
        assert secret not in text
    assert "roster_line" not in text and "alice" not in text  # no names, not even theirs


def test_a_grader_error_shows_a_fixed_note_not_the_graders_words() -> None:
    internal = "the grader exited with status 1: Traceback ... /srv/grader/checks/check_x.py"
    data = results(
        score=0.0,
        raw_score=0.0,
        error=f"{GRADER_ERROR}: {internal}",
        output=f"Could not grade your repository: {internal}",
        tests=[check("0.1", "Could not grade this submission", 0.0, 100.0, tag="integrity")],
        extra_data={"grading_status": GRADER_ERROR, "reason": internal},
    )
    text = gh_feedback.render_feedback(data)
    assert f"> This commit is {gh_feedback.GRADER_ERROR_NOTE}." in text
    assert "check_x" not in text and "Traceback" not in text and "## Checks" not in text


def test_work_that_could_not_be_graded_says_why() -> None:
    data = results(
        score=0.0,
        raw_score=0.0,
        commit=None,
        error="empty repository: nothing was ever pushed",
        output="Could not grade your repository: empty repository: nothing was ever pushed",
        extra_data={"grading_status": COULD_NOT_GRADE},
    )
    text = gh_feedback.render_feedback(data)
    assert "| Graded commit | none |" in text
    assert "## Why your work could not be graded" in text
    assert "empty repository: nothing was ever pushed" in text and "## Checks" not in text


def test_late_and_tampered_work_is_explained() -> None:
    data = results(
        late=True,
        tampered=["tests/test_`x`.py", "requirements.txt"],
        extra_data={"grading_status": "graded", "grade_repos": {"late_commits": ["a" * 40] * 2}},
    )
    text = gh_feedback.render_feedback(data)
    assert "> 2 commit(s) came after the last moment work is graded and were not graded." in text
    assert "Protected files were changed (`tests/test_'x'.py`, `requirements.txt`)" in text


def test_student_text_cannot_break_out_of_its_block_and_the_page_is_bounded() -> None:
    escape = "```\n@teacher see [link](https://example.org) <img src=x>\n````"
    many = [
        check(f"3.{i}", f"clip_gradients: check {i}", 0.0, 1.0, output=escape + "y" * 5_000)
        for i in range(40)
    ]
    text = gh_feedback.render_feedback(results(tests=many, score=0.0, raw_score=0.0))
    assert "`````text\n```\n@teacher" in text  # a fence longer than any run inside
    assert len(text) < 65_536  # GitHub's limit for an issue body
    assert "More checks failed than this page can hold: fix the ones above first." in text
    assert "[... 2" in text  # each failure's feedback cut at 3,000 characters, saying so
