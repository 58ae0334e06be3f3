"""The scoreboard's data model: small dataclasses with computed totals and statistics.

A ``Submission`` is one graded (or not gradable) submission of one student, wrapping the
grader's own ``GradingResult``; a ``StudentRow`` is a student's current submission plus their
history; a ``Board`` is the whole class. Output formats (HTML, CSV, figures) are functions over
this model in ``site``, ``exports`` and ``figures``; nothing here knows about files or SQL.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property

from autograder.grading.results import (
    COULD_NOT_GRADE,
    GRADED,
    GRADER_ERROR,
    TAGS,
    GradingResult,
    check_order,
)

# A graded student below this fraction of the points is listed as needing help.
NEEDS_HELP_BELOW = 0.6


def login_key(login: str) -> str:
    """What identifies a student: GitHub logins are case-insensitive (``Ada`` is ``ada``)."""
    return login.strip().casefold()


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (naive datetimes are taken to be UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


@dataclass(frozen=True)
class ManualPoints:
    """Points an instructor gives by hand (``--manual-points FILE``), e.g. for written answers."""

    points: float
    comment: str = ""
    source: str = ""  # the file they were imported from
    imported_at: datetime | None = None


@dataclass(frozen=True)
class SimilarityFlag:
    """What ``python -m autograder similarity`` found for one student (its similarity.json)."""

    flagged: bool
    reference_copy: bool
    partner: str | None = None
    highest_similarity: float | None = None
    reference_similarity: float | None = None

    @property
    def shown(self) -> bool:
        """Whether the board flags the student: a flagged pair or a copy of the reference."""
        return self.flagged or self.reference_copy


@dataclass
class Submission:
    """One row of a results directory: who, which commit, when, and the grader's result."""

    student: str
    result: GradingResult
    graded_at: datetime
    repo: str = ""
    commit: str = ""
    committed_at: datetime | None = None
    late: bool = False
    tampered: tuple[str, ...] = ()
    error: str | None = None
    grader_version: str = ""
    source_file: str = ""
    fingerprint: str = ""  # hash of the results file's content: the same file is ingested once
    id: int | None = None  # database id once stored
    run_id: str = ""  # the grading run that wrote it (a reused result keeps its first run's)
    deadline: datetime | None = None  # the student's own (an extension may differ)
    # the late policy (grade-repos --late-days/--late-penalty); None: no policy was applied
    late_days: int | None = None
    penalty: float | None = None
    answers: dict[str, str] = field(default_factory=dict)  # written answers, {"Q1": text}
    answers_source: str = ""

    @property
    def status(self) -> str:
        """How grading ended: ``graded``, ``could_not_grade`` or ``grader_error``
        (``grading.results.STATUSES``, as the results file says)."""
        return self.result.status

    @property
    def repository_problem(self) -> bool:
        """No commit was graded: missing or empty repository, clone failure, no commit before
        the deadline (``grade-repos`` then sets ``error`` and no ``commit``)."""
        return bool(self.error) and not self.commit

    @property
    def has_grade(self) -> bool:
        """Whether this is a verdict on the student's code: graded, or found but not gradable.

        A grader error is not (not the student's fault), nor is a repository problem; neither
        replaces an earlier grade as the student's current submission.
        """
        return self.status in (GRADED, COULD_NOT_GRADE) and not self.repository_problem

    @property
    def raw_score(self) -> float:
        """The grader's points, bonus included, before any late penalty."""
        return self.result.score

    @property
    def score(self) -> float:
        """The points after the late penalty (never below 0), bonus included."""
        if not self.penalty:
            return self.raw_score
        return round(max(0.0, self.raw_score - self.penalty), 4)

    @property
    def max_score(self) -> float:
        return self.result.max_score

    @property
    def main_score(self) -> float:
        """The points of the regular (non-bonus) checks, before any penalty."""
        return self.result.main_score

    @property
    def bonus_score(self) -> float:
        return self.result.bonus_score

    def by_tag(self) -> dict[str, tuple[float, float]]:
        return self.result.by_tag()

    @property
    def short_commit(self) -> str:
        return self.commit[:7]

    @property
    def tampering(self) -> list[str]:
        """What changed in each tampered file, as grade-repos recorded it ("path (modified)")."""
        recorded = (self.result.extra.get("grade_repos") or {}).get("tampering")
        if isinstance(recorded, list) and recorded:
            return [str(c) for c in recorded]
        return list(self.tampered)

    @property
    def commit_to_deadline(self) -> timedelta | None:
        """How long after the deadline the graded commit was made (negative: before it)."""
        if self.committed_at is None or self.deadline is None:
            return None
        return self.committed_at - self.deadline

    def unchanged_from(self, other: Submission) -> bool:
        """Whether this grading says nothing ``other`` did not: the same commit, score and
        grader version (and status, late flag, deadline and penalty). The gradebook keeps a new
        row only for a change."""
        return _change_key(self) == _change_key(other)


def _change_key(sub: Submission) -> tuple[object, ...]:
    return (
        sub.commit,
        round(sub.raw_score, 4),
        round(sub.score, 4),
        sub.grader_version,
        sub.status,
        sub.late,
        sub.deadline,
        sub.penalty,
        sub.error or "",
    )


@dataclass
class StudentRow:
    """A student's current submission (the latest graded one) and their whole history."""

    student: str
    history: list[Submission]  # oldest first
    class_max: float = 0.0  # the class's max score (for students without any graded submission)
    manual: ManualPoints | None = None
    similarity: SimilarityFlag | None = None
    class_deadline: datetime | None = None  # the deadline most of the class has

    # The history does not change once a row is built: derived values are computed once.
    @cached_property
    def current(self) -> Submission | None:
        """The latest submission the grader ran on; else the latest attempt of any kind."""
        graded = [s for s in self.history if s.has_grade]
        if graded:
            return graded[-1]
        return self.history[-1] if self.history else None

    @property
    def latest(self) -> Submission | None:
        return self.history[-1] if self.history else None

    @property
    def latest_attempt_failed(self) -> bool:
        """The newest attempt could not be graded although an older one was (e.g. repo deleted)."""
        latest, current = self.latest, self.current
        return latest is not None and current is not None and latest is not current

    @property
    def repo(self) -> str:
        return self.latest.repo if self.latest else ""

    @property
    def status(self) -> str:
        """The current submission's status (``grading.results.STATUSES``); a student without
        any row at all (manual points only) could not be graded."""
        return self.current.status if self.current else COULD_NOT_GRADE

    @property
    def score(self) -> float | None:
        """The current score (after any late penalty, bonus included); ``None`` when no verdict
        on the student's code exists (a grader error, no commit graded)."""
        cur = self.current
        return cur.score if cur is not None and cur.has_grade else None

    @property
    def max_score(self) -> float:
        """The current submission's max score; the class's when it was not fully graded.

        (A row that could not be graded carries a placeholder maximum, not the grader's.)
        """
        cur = self.current
        if cur is not None and cur.status == GRADED and cur.max_score > 0:
            return cur.max_score
        return self.class_max or (cur.max_score if cur is not None else 0.0)

    @property
    def fraction(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return self.score / self.max_score

    @property
    def full_marks(self) -> bool:
        """Every regular check passed (bonus points do not make up for a failed one)."""
        cur = self.current
        return (
            cur is not None
            and self.status == GRADED
            and self.max_score > 0
            and cur.main_score >= self.max_score
        )

    @property
    def late(self) -> bool:
        return bool(self.current and self.current.late)

    @property
    def penalty(self) -> float:
        cur = self.current
        if cur is None or not cur.has_grade:
            return 0.0
        return cur.penalty or 0.0

    @property
    def deadline(self) -> datetime | None:
        return self.current.deadline if self.current else None

    @property
    def extension(self) -> bool:
        """The student's deadline is later than the class's (an extension)."""
        return (
            self.deadline is not None
            and self.class_deadline is not None
            and self.deadline > self.class_deadline
        )

    @property
    def tampered(self) -> tuple[str, ...]:
        return self.current.tampered if self.current else ()

    @property
    def error(self) -> str | None:
        """Why the newest attempt gave no grade (repository problem or grader error), if so."""
        latest = self.latest
        if latest is None or latest.has_grade:
            return None
        return latest.error or latest.result.reason or latest.status

    @property
    def needs_help(self) -> bool:
        """Graded below the threshold (the grader's points, before any penalty), or nothing of
        theirs could be graded: the file does not import, or nothing was ever pushed."""
        if self.status == COULD_NOT_GRADE:
            return True
        cur = self.current
        return (
            cur is not None
            and self.status == GRADED
            and self.max_score > 0
            and cur.raw_score / self.max_score < NEEDS_HELP_BELOW
        )

    @cached_property
    def flags(self) -> list[str]:
        """Short machine-friendly flags, used for filtering and in the CSV exports."""
        flags = []
        if self.full_marks:
            flags.append("full-marks")
        if self.needs_help:
            flags.append("needs-help")
        if self.late:
            flags.append("late")
        if self.penalty:
            flags.append("penalty")
        if self.extension:
            flags.append("extension")
        if self.tampered:
            flags.append("tampered")
        if self.similarity is not None and self.similarity.shown:
            flags.append("similar")
        if self.status == COULD_NOT_GRADE:
            flags.append("could-not-grade")
        latest = self.latest
        if latest is not None and latest.status == GRADER_ERROR:
            flags.append("grader-error")
        if latest is not None and latest.repository_problem:
            flags.append("no-commit")
        if self.manual is not None:
            flags.append("manual")
        return flags


@dataclass(frozen=True)
class Check:
    """One hidden check of the grader, as seen across the class."""

    name: str
    number: str
    tag: str
    max_score: float
    visibility: str = "visible"

    @property
    def sort_key(self) -> tuple[int, tuple[int, ...], str]:
        return (*check_order(self.tag, self.number), self.name)


@dataclass(frozen=True)
class CheckStat:
    """How the class did on one check (over current submissions the grader ran fully)."""

    check: Check
    attempted: int
    passed: int
    common_feedback: tuple[tuple[str, int], ...] = ()  # most frequent failure outputs, counts

    @property
    def rate(self) -> float | None:
        return self.passed / self.attempted if self.attempted else None


@dataclass(frozen=True)
class TagStat:
    """How the class did on one function (tag): points earned over points available."""

    tag: str
    points: float
    max_points: float
    students_full: int  # students with every check of this tag passed
    students: int

    @property
    def rate(self) -> float | None:
        return self.points / self.max_points if self.max_points else None


@dataclass(frozen=True)
class TimePoint:
    """The class as it stood at the end of one grading run."""

    run_id: str
    at: datetime  # the run's last grading time
    graded: int  # students with a graded current submission at that time
    mean: float
    median: float
    q1: float
    q3: float
    full_marks: int
    submissions_in_round: int


@dataclass(frozen=True)
class Problem:
    """A results file that was skipped (or accepted with a warning), and why."""

    source: str
    message: str
    skipped: bool = True


@dataclass
class Board:
    """The whole class: one row per student, the checks, and what went wrong while reading.

    A board is a snapshot: its rows are not changed after it is built, so derived values
    (checks, tags, the class's max score) are computed once.
    """

    students: list[StudentRow]
    problems: list[Problem] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    title: str = "Batch Normalization and Gradient Clipping"
    bonus_policy: str = "separate"  # how the grade export counts bonus points (exports.py)
    similarity_source: str = ""  # the similarity.json shown, if any

    def __post_init__(self) -> None:
        self.students.sort(key=lambda r: r.student.lower())
        class_max = self.max_score
        class_deadline = self.deadline
        for row in self.students:
            row.class_max = class_max
            row.class_deadline = class_deadline

    # -- the class at a glance -----------------------------------------------------------
    @cached_property
    def current(self) -> list[Submission]:
        return [r.current for r in self.students if r.current is not None]

    @cached_property
    def max_score(self) -> float:
        """The most common max score of graded submissions (the assignment's total)."""
        maxima = Counter(
            s.max_score for s in self.current if s.status == GRADED and s.max_score > 0
        )
        return maxima.most_common(1)[0][0] if maxima else 0.0

    @cached_property
    def deadline(self) -> datetime | None:
        """The class's deadline: the one most current submissions were graded against (the
        earliest of the most common, so that an extension never becomes the norm)."""
        counts = Counter(s.deadline for s in self.current if s.deadline is not None)
        if not counts:
            return None
        top = max(counts.values())
        return min(d for d, n in counts.items() if n == top)

    @property
    def graded_rows(self) -> list[StudentRow]:
        return [r for r in self.students if r.status == GRADED]

    @cached_property
    def scores(self) -> list[float]:
        """Current scores of students whose submission the grader ran on (0 if it crashed)."""
        return [r.score for r in self.students if r.score is not None]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None

    def count(self, flag: str) -> int:
        return sum(flag in r.flags for r in self.students)

    # -- checks ----------------------------------------------------------------------------
    @cached_property
    def checks(self) -> list[Check]:
        """Every check seen in a current, fully graded submission; the newest one names it."""
        seen: dict[str, Check] = {}
        graded = [s for s in self.current if s.status == GRADED]
        for sub in sorted(graded, key=lambda s: s.graded_at):
            for t in sub.result.tests:
                seen[t.name] = Check(t.name, t.number, t.tag, t.max_score, t.visibility)
        return sorted(seen.values(), key=lambda c: c.sort_key)

    def check_stats(self, *, top_feedback: int = 2) -> list[CheckStat]:
        """Pass rate of each check over current submissions the grader ran fully (``graded``).

        Submissions that could not be graded (they fail every check for one unrelated reason)
        would drown the signal of what to re-teach, so they are left out.
        """
        graded = [r.current for r in self.graded_rows if r.current is not None]
        stats = []
        for check in self.checks:
            attempted = passed = 0
            feedback: Counter[str] = Counter()
            for sub in graded:
                for t in sub.result.tests:
                    if t.name == check.name:
                        attempted += 1
                        if t.passed:
                            passed += 1
                        elif t.output.strip():
                            feedback[_first_line(t.output)] += 1
                        break
            stats.append(
                CheckStat(check, attempted, passed, tuple(feedback.most_common(top_feedback)))
            )
        return stats

    def tag_stats(self) -> list[TagStat]:
        """Points earned per function over current graded submissions, in report order."""
        graded = [r.current for r in self.graded_rows if r.current is not None]
        out = []
        for tag in TAGS:
            points = max_points = 0.0
            full = students = 0
            for sub in graded:
                subtotal = sub.by_tag().get(tag)
                if subtotal is None:
                    continue
                points += subtotal[0]
                max_points += subtotal[1]
                students += 1
                full += all(t.passed for t in sub.result.tests if t.tag == tag)
            if students:
                out.append(TagStat(tag, points, max_points, full, students))
        return out

    @cached_property
    def tags(self) -> list[str]:
        """The tags whose checks carry points (the subtotal columns), in report order."""
        points: dict[str, float] = {}
        for c in self.checks:
            points[c.tag] = points.get(c.tag, 0.0) + c.max_score
        return [t for t in TAGS if points.get(t, 0.0) > 0]

    # -- over time ---------------------------------------------------------------------------
    def timeline(self) -> list[TimePoint]:
        """The class at the end of each grading run (``run_id``), oldest first: each student's
        latest graded score then. A run whose results all repeat earlier ones (unchanged
        commits) stored nothing new, and has no point of its own."""
        runs: dict[str, list[Submission]] = {}
        for sub in (s for r in self.students for s in r.history if s.has_grade):
            runs.setdefault(sub.run_id, []).append(sub)
        ordered = sorted(runs.items(), key=lambda kv: (max(s.graded_at for s in kv[1]), kv[0]))
        points = []
        standing: dict[str, Submission] = {}
        for run_id, batch in ordered:
            for sub in sorted(batch, key=lambda s: s.graded_at):
                known = standing.get(sub.student)
                if known is None or known.graded_at <= sub.graded_at:
                    standing[sub.student] = sub
            scores = sorted(s.score for s in standing.values())
            q1, q3 = _quartiles(scores)
            points.append(
                TimePoint(
                    run_id=run_id,
                    at=max(s.graded_at for s in batch),
                    graded=len(scores),
                    mean=statistics.fmean(scores),
                    median=statistics.median(scores),
                    q1=q1,
                    q3=q3,
                    full_marks=sum(
                        s.status == GRADED and s.max_score > 0 and s.main_score >= s.max_score
                        for s in standing.values()
                    ),
                    submissions_in_round=len(batch),
                )
            )
        return points


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        v = values[0] if values else 0.0
        return v, v
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"
