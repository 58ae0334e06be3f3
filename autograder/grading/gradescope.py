"""Output formats over ``GradingResult``: Gradescope JSON (and back), and the terminal table."""

from __future__ import annotations

import math
from typing import Any

from autograder.grading.results import COULD_NOT_GRADE, GRADED, GradingResult, TestResult


def to_gradescope(result: GradingResult) -> dict[str, Any]:
    """The results.json of CONTRACT.md section 3 (Gradescope's schema).

    Instructor-only material (grader tracebacks, what the submission printed, tampering
    details) goes under ``extra_data``, which Gradescope keeps but does not show to students.
    Every text is cleaned and capped first (``GradingResult.cleaned``): whatever the student's
    process sent, the file is valid UTF-8 JSON of bounded size.
    """
    result = result.cleaned()
    tests = []
    for t in result.tests:
        tests.append(
            {
                "name": t.name,
                "number": t.number,
                "score": float(t.score),
                "max_score": float(t.max_score),
                "status": t.status,
                "output": t.output,
                "tags": [t.tag],
                "visibility": t.visibility,
            }
        )
    extra: dict[str, Any] = {
        "grading_status": result.status,
        "reason": result.reason,
        "grader_version": result.grader_version,
        "submission": result.submission,
        "isolation": result.isolation,
        "bonus_score": result.bonus_score,
        "by_tag": {tag: list(v) for tag, v in result.by_tag().items()},
        "instructor_notes": {
            t.number: t.instructor_note for t in result.tests if t.instructor_note
        },
        "student_output": result.student_output,
        "traceback": result.traceback,
        **result.extra,
    }
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": round(result.execution_time, 2),
        "output": summary_text(result),
        "tests": tests,
        "extra_data": extra,
    }


def from_gradescope(data: dict[str, Any]) -> GradingResult:
    """Rebuild a ``GradingResult`` from a results.json (raises ValueError when malformed)."""
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise ValueError("not a results.json: no 'tests' list")
    extra = data.get("extra_data") or {}
    notes = extra.get("instructor_notes") or {}
    tests = []
    for i, t in enumerate(data["tests"]):
        if not isinstance(t, dict):
            raise ValueError(f"test #{i} is not an object")
        tags = t.get("tags") or []
        if len(tags) != 1:
            raise ValueError(f"test #{i} ({t.get('name')!r}) must carry exactly one tag")
        try:
            tests.append(
                TestResult(
                    name=str(t["name"]),
                    number=str(t.get("number", "")),
                    tag=str(tags[0]),
                    max_score=_finite_float(t["max_score"], "max_score"),
                    score=_finite_float(t["score"], "score"),
                    output=str(t.get("output", "")),
                    visibility=str(t.get("visibility", "visible")),
                    instructor_note=str(notes.get(str(t.get("number", "")), "")),
                    outcome=str(t.get("status", ""))
                    if t.get("status") in ("passed", "failed")
                    else "",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"test #{i} is malformed: {exc}") from exc
    known = {
        "grading_status",
        "reason",
        "grader_version",
        "submission",
        "isolation",
        "bonus_score",
        "by_tag",
        "instructor_notes",
        "student_output",
        "traceback",
    }
    return GradingResult(
        tests=tests,
        status=str(extra.get("grading_status", GRADED)),
        reason=str(extra.get("reason", "")),
        execution_time=_finite_float(data.get("execution_time") or 0.0, "'execution_time'"),
        grader_version=str(extra.get("grader_version", "")),
        submission=str(extra.get("submission", "")),
        isolation=str(extra.get("isolation", "")),
        student_output=str(extra.get("student_output", "")),
        traceback=str(extra.get("traceback", "")),
        extra={k: v for k, v in extra.items() if k not in known},
    )


def _finite_float(value: Any, what: str) -> float:
    """``float(value)``, refusing what a score cannot be: ``"nan"``, ``"inf"``, ``1e999``."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is not a finite number ({value!r})")
    return number


# How sections are kept apart (README, "The hidden checks"), said to every student who lost points
ONE_SECTION_RULE = (
    "Each function is graded on its own: clip_gradients with a correct compute_grad_norm in place "
    "of yours, compare_runs with correct add_batchnorm, compute_grad_norm and clip_gradients, so "
    "one mistake costs points in one section; only the accuracy checks use all of your functions."
)


def summary_text(result: GradingResult) -> str:
    """The top-level ``output``: a few lines for the student."""
    if result.status != GRADED:
        head = "Could not grade your submission: " + result.reason
        if result.status == "grader_error":
            head = "The grader failed (not your fault); your instructor has been notified. " + (
                result.reason
            )
        lines = [head, f"Score: {result.score_line()}"]
        return "\n".join(lines + _note_lines(result))
    lines = [f"Score: {result.score_line()}"]
    parts = [f"{tag} {s:g}/{m:g}" for tag, (s, m) in result.by_tag().items() if m > 0]
    lines.append("By function: " + ", ".join(parts))
    failed = [t for t in result.failed if t.max_score > 0]
    if failed:
        lines.append(f"{len(failed)} check(s) failed; each one says what to fix.")
        lines.append(ONE_SECTION_RULE)
    else:
        lines.append("Every check passed.")
    return "\n".join(lines + _note_lines(result))


# The words of the notes about a line or cell of a notebook that was not graded as written
# (grading.notebook_script.strip_ipython). REMOVED_FOR_GRADING: what the graded code may have
# needed (a shell escape, a get_ipython() call, a magic that installs, defines or runs something, a
# cell dropped by its cell magic). LEFT_OUT_OF_GRADING: what it cannot have needed
# (``%matplotlib inline``, help ``obj?``, the ``%%time`` line of a cell whose code is kept).
REMOVED_FOR_GRADING = "removed for grading"
LEFT_OUT_OF_GRADING = "left out of grading"


def _note_lines(result: GradingResult) -> list[str]:
    """The notes about how the submission was prepared (a notebook's removed magics, ...).

    When the submission could not be graded, a removed line is a likely cause (``!pip install
    x`` then ``import x``; ``ip = get_ipython()`` then ``ip.…``): the summary says so. Only for
    the removals the code may have needed (``REMOVED_FOR_GRADING``), not for those left out
    because they only affect Jupyter (``LEFT_OUT_OF_GRADING``).
    """
    notes = [str(n) for n in result.extra.get("submission_notes", [])]
    lines = [f"Note: {note}" for note in notes]
    if result.status == COULD_NOT_GRADE and any(REMOVED_FOR_GRADING in n for n in notes):
        lines.append(
            "The IPython lines removed for grading (see the notes above) may be why your code "
            "did not run: packages installed with `!pip` are not there while grading, and "
            "get_ipython() exists only in Jupyter. Make each graded cell plain Python."
        )
    return lines
