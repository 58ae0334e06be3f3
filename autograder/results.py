"""The result of grading one submission: small dataclasses with computed totals.

Output formats (Gradescope JSON, terminal table, ...) are functions over this model in
``autograder.formats``; nothing here knows about files or pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every test carries exactly one of these tags (CONTRACT.md, section 3). The order is the
# order of the sections in the report; a test numbered "2.3" is the third test of section 2.
TAGS: tuple[str, ...] = (
    "integrity",
    "add_batchnorm",
    "compute_grad_norm",
    "clip_gradients",
    "compare_runs",
    "accuracy",
    "bonus",
)
BONUS_TAG = "bonus"

# How grading ended, beyond the score.
GRADED = "graded"  # every check ran (some may have failed)
COULD_NOT_GRADE = "could_not_grade"  # the submission is missing or does not import
GRADER_ERROR = "grader_error"  # the grader itself failed: not the student's fault


@dataclass
class TestResult:
    """One hidden check's outcome."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    number: str
    tag: str
    max_score: float
    score: float = 0.0
    output: str = ""
    visibility: str = "visible"
    # for the instructor only (grader tracebacks); never shown to the student
    instructor_note: str = ""
    # "passed"/"failed" as decided by the check; empty: full score means passed. Needed for
    # 0-point checks (integrity), whose score cannot tell.
    outcome: str = ""

    def __post_init__(self) -> None:
        if self.tag not in TAGS:
            raise ValueError(
                f"test {self.name!r}: unknown tag {self.tag!r}; expected one of {TAGS}"
            )

    @property
    def passed(self) -> bool:
        if self.outcome:
            return self.outcome == "passed"
        return self.score >= self.max_score

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"


@dataclass
class GradingResult:
    """All checks of one submission plus how grading went."""

    tests: list[TestResult] = field(default_factory=list)
    status: str = GRADED
    reason: str = ""  # why it could not be graded, in words for the student
    execution_time: float = 0.0
    grader_version: str = ""
    submission: str = ""
    isolation: str = ""
    student_output: str = ""  # what the submission printed (capped), for the instructor
    traceback: str = ""  # the grader's own traceback when status == GRADER_ERROR
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        """The sum over the non-bonus tests; bonus points come on top."""
        return round(sum(t.max_score for t in self.tests if t.tag != BONUS_TAG), 4)

    @property
    def bonus_score(self) -> float:
        return round(sum(t.score for t in self.tests if t.tag == BONUS_TAG), 4)

    def by_tag(self) -> dict[str, tuple[float, float]]:
        """(score, max_score) per tag, in report order."""
        totals: dict[str, tuple[float, float]] = {}
        for tag in TAGS:
            tests = [t for t in self.tests if t.tag == tag]
            if tests:
                totals[tag] = (sum(t.score for t in tests), sum(t.max_score for t in tests))
        return totals

    @property
    def failed(self) -> list[TestResult]:
        return [t for t in self.tests if not t.passed]
