"""The result of grading one submission: small dataclasses with computed totals.

Output formats (Gradescope JSON, terminal table, ...) are functions over this model in
``autograder.grading.gradescope``; nothing here knows about files or pytest.
"""

from __future__ import annotations

import dataclasses
import math
import re
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


# The assignment's total (CONTRACT section 3: the sum over the non-bonus checks), for results
# made without running the checks (a grader error, a repository that cannot be graded)
MAX_SCORE = 100.0


def check_order(tag: str, number: str) -> tuple[int, tuple[int, ...]]:
    """Where a check goes in every listing: by its tag's section, then by its number ("3.10"
    after "3.9")."""
    section = TAGS.index(tag) if tag in TAGS else len(TAGS)
    return section, tuple(int(p) if p.isdigit() else 0 for p in number.split("."))


# How grading ended, beyond the score: the one vocabulary of every file and page (results JSON,
# summary.csv, the gradebook and its exports, the scoreboard).
GRADED = "graded"  # every check ran (some may have failed)
COULD_NOT_GRADE = "could_not_grade"  # the submission is missing or does not import
GRADER_ERROR = "grader_error"  # the grader itself failed: not the student's fault
STATUSES = (GRADED, COULD_NOT_GRADE, GRADER_ERROR)


def yes_no(flag: bool) -> str:
    """The one spelling of a boolean in every CSV file: ``true`` or ``false``."""
    return "true" if flag else "false"


# What is kept of each text of a result, in characters. Much of it comes from the student's
# process (exception messages, type names, what it printed), which can send anything.
MAX_NAME_CHARS = 300  # a test's name and number
MAX_OUTPUT_CHARS = 10_000  # a test's feedback, the reason
MAX_NOTE_CHARS = 50_000  # an instructor note, the grader's traceback (the end is kept)
MAX_STUDENT_OUTPUT_CHARS = 20_000  # what the submission printed (the end is kept)
MAX_EXTRA_CHARS = 10_000  # any other string, under ``extra``
MAX_EXTRA_ITEMS = 1_000  # items of a list or dict under ``extra``
MAX_EXTRA_DEPTH = 8
MAX_EXTRA_TOTAL_CHARS = 200_000  # all strings under ``extra`` together
TOO_MUCH = "[... cut: too much data]"
# Lone surrogates (no UTF-8 encoder takes them), control characters other than newline and tab
# (terminal escapes, NUL, carriage return) and bidirectional overrides (text that reads
# differently than it is)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(value: Any, *, limit: int, keep_end: bool = False) -> str:
    """``value`` as text any JSON file and terminal takes, cut to about ``limit`` characters.

    Unsafe characters (see ``_UNSAFE``) become U+FFFD; what is cut is said, with its length.
    ``keep_end`` keeps the end (of a traceback, of printed output) rather than the start.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        cut = len(text) - limit
        if keep_end:
            text = f"[... {cut} characters cut]\n" + str.__getitem__(text, slice(cut, None))
        else:
            text = str.__getitem__(text, slice(0, limit)) + f"\n[... {cut} characters cut]"
    return _UNSAFE.sub(REPLACEMENT, str.__str__(text))


@dataclass
class _Budget:
    """What is left of the characters ``extra`` may hold in all (``MAX_EXTRA_TOTAL_CHARS``)."""

    left: int = 0

    def text(self, value: Any, limit: int) -> str:
        text = clean_text(value, limit=max(min(limit, self.left), 0))
        self.left -= len(text) + 1
        return text


def clean_data(value: Any, *, depth: int = 0, budget: _Budget | None = None) -> Any:
    """JSON-ready data with every string cleaned and every container and number bounded.

    Strings hold at most ``MAX_EXTRA_CHARS`` characters, containers ``MAX_EXTRA_ITEMS`` items
    and ``MAX_EXTRA_DEPTH`` levels, and all of it ``MAX_EXTRA_TOTAL_CHARS`` (``budget``, shared
    by the calls of one result). Non-finite floats become None (JSON has no NaN); anything else
    that is not JSON becomes its cleaned ``repr``.
    """
    budget = budget if budget is not None else _Budget(MAX_EXTRA_TOTAL_CHARS)
    if value is None or isinstance(value, bool | int | float):
        budget.left -= 1
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if budget.left <= 0:
        return TOO_MUCH
    if isinstance(value, str):
        return budget.text(value, MAX_EXTRA_CHARS)
    if depth >= MAX_EXTRA_DEPTH:
        return "[... nested too deep]"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_EXTRA_ITEMS]
        return {
            budget.text(k, MAX_NAME_CHARS): clean_data(v, depth=depth + 1, budget=budget)
            for k, v in items
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)[:MAX_EXTRA_ITEMS]
        return [clean_data(v, depth=depth + 1, budget=budget) for v in items]
    return budget.text(repr(value), MAX_EXTRA_CHARS)


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

    def cleaned(self) -> TestResult:
        """A copy whose texts are cleaned and capped (see ``clean_text``)."""
        return dataclasses.replace(
            self,
            name=clean_text(self.name, limit=MAX_NAME_CHARS),
            number=clean_text(self.number, limit=MAX_NAME_CHARS),
            output=clean_text(self.output, limit=MAX_OUTPUT_CHARS),
            instructor_note=clean_text(self.instructor_note, limit=MAX_NOTE_CHARS, keep_end=True),
            visibility=clean_text(self.visibility, limit=MAX_NAME_CHARS),
            outcome=clean_text(self.outcome, limit=MAX_NAME_CHARS),
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

    def cleaned(self) -> GradingResult:
        """A copy whose every text is cleaned and capped, ``extra`` included (``clean_data``).

        Written results files and printed tables are made from it: whatever the student's
        process sent, they are valid UTF-8 and of bounded size.
        """
        return dataclasses.replace(
            self,
            tests=[t.cleaned() for t in self.tests],
            status=clean_text(self.status, limit=MAX_NAME_CHARS),
            reason=clean_text(self.reason, limit=MAX_OUTPUT_CHARS),
            execution_time=self.execution_time if math.isfinite(self.execution_time) else 0.0,
            grader_version=clean_text(self.grader_version, limit=MAX_NAME_CHARS),
            submission=clean_text(self.submission, limit=MAX_EXTRA_CHARS),
            isolation=clean_text(self.isolation, limit=MAX_NAME_CHARS),
            student_output=clean_text(
                self.student_output, limit=MAX_STUDENT_OUTPUT_CHARS, keep_end=True
            ),
            traceback=clean_text(self.traceback, limit=MAX_NOTE_CHARS, keep_end=True),
            extra=clean_data(self.extra),
        )

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        """The sum over the non-bonus tests; bonus points come on top."""
        return round(sum(t.max_score for t in self.tests if t.tag != BONUS_TAG), 4)

    @property
    def main_score(self) -> float:
        """The points of the non-bonus checks (at most ``max_score``)."""
        return round(self.score - self.bonus_score, 4)

    def score_line(self) -> str:
        """The score as students read it everywhere: ``93/100: 83 + 10 bonus`` (``83/100``
        without bonus points)."""
        line = f"{self.score:g}/{self.max_score:g}"
        if self.bonus_score:
            line += f": {self.main_score:g} + {self.bonus_score:g} bonus"
        return line

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


def not_graded(
    *,
    status: str,
    reason: str,
    output: str,
    submission: str = "",
    grader_version: str = "",
    traceback: str = "",
) -> GradingResult:
    """A result made without running the checks: 0 of ``MAX_SCORE``, one failed integrity entry
    "Could not grade this submission" saying ``output`` (words for the student), ``reason`` and
    ``traceback`` for the instructor. Used for a grader error and by grade-repos for a repository
    that cannot be graded (a submission that does not import still runs every check, failed)."""
    entry = TestResult(
        name="Could not grade this submission",
        number="0.1",
        tag="integrity",
        max_score=MAX_SCORE,
        output=output,
        instructor_note=traceback,
        outcome="failed",
    )
    return GradingResult(
        tests=[entry],
        status=status,
        reason=reason,
        grader_version=grader_version,
        submission=submission,
        traceback=traceback,
    )
