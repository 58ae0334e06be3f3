"""CSV exports over a ``Board``: the LMS grade import file and the per-check matrix.

LMS layout (``lms_grades.csv``, documented in docs/scoreboard.md), one row per student:

    student,score,max_score,percent,bonus,manual_points,raw_score,late_days,penalty,status,
    late,tampered,similarity_flag,deadline,graded_at,commit

``max_score`` is the assignment's total without the bonus (100), as on GitHub and in the otter
and nbgrader exports. ``score`` is what to import, computed by the bonus policy
(``--bonus``, ``BONUS_POLICIES``) from the grader's points of the regular checks (``main``), the
bonus points, the late penalty and the manual points:

* ``separate`` (default): ``main - penalty + manual``, kept within 0..max_score; the bonus is
  only in the ``bonus`` column (for an LMS's own extra-credit item);
* ``cap``: ``main + bonus - penalty + manual``, kept within 0..max_score (the bonus makes up for
  lost points, never beyond the maximum);
* ``include``: ``main + bonus - penalty + manual``, at least 0, and may exceed max_score.

``score`` is EMPTY when no verdict on the student's code exists (a grader error, or no commit
was graded: missing or empty repository, clone failure), so that the LMS does not record a
zero that may not be the student's doing: decide those by hand (``status`` says which). The
statuses are ``grading.results.STATUSES``; booleans are ``true``/``false`` (``yes_no``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.results import GRADED, yes_no
from autograder.scoreboard.model import Board, StudentRow

SEPARATE, CAP, INCLUDE = "separate", "cap", "include"
BONUS_POLICIES = (SEPARATE, CAP, INCLUDE)

LMS_COLUMNS = (
    "student", "score", "max_score", "percent", "bonus", "manual_points", "raw_score",
    "late_days", "penalty", "status", "late", "tampered", "similarity_flag", "deadline",
    "graded_at", "commit",
)  # fmt: skip


@dataclass(frozen=True)
class Grade:
    """A student's grade as exported: the parts and the total under one bonus policy."""

    score: float | None  # None: no verdict on the student's code (decide by hand)
    max_score: float
    main: float  # the regular checks' points (before the penalty)
    bonus: float
    penalty: float
    manual: float
    policy: str

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return 100 * self.score / self.max_score


def grade(row: StudentRow, policy: str = SEPARATE) -> Grade:
    """``row``'s grade under ``policy`` (see the module's docstring)."""
    if policy not in BONUS_POLICIES:
        raise ValueError(f"unknown bonus policy {policy!r}; expected one of {BONUS_POLICIES}")
    cur = row.current
    manual = row.manual.points if row.manual is not None else 0.0
    if row.score is None or cur is None:
        return Grade(None, row.max_score, 0.0, 0.0, 0.0, manual, policy)
    main, bonus, penalty = cur.main_score, cur.bonus_score, row.penalty
    points = main - penalty + manual + (0.0 if policy == SEPARATE else bonus)
    score = max(0.0, points)
    if policy in (SEPARATE, CAP) and row.max_score:
        score = min(score, row.max_score)
    return Grade(round(score, 4), row.max_score, main, bonus, penalty, manual, policy)


def lms_rows(board: Board) -> list[dict[str, str]]:
    rows = []
    for row in board.students:
        cur = row.current
        g = grade(row, board.bonus_policy)
        graded = g.score is not None and cur is not None
        rows.append(
            {
                "student": _cell(row.student),
                "score": _num(g.score),
                "max_score": _num(row.max_score),
                "percent": f"{g.percent:.1f}" if g.percent is not None else "",
                "bonus": _num(g.bonus) if graded else "",
                "manual_points": _num(row.manual.points) if row.manual is not None else "",
                "raw_score": _num(cur.raw_score) if graded and cur else "",
                "late_days": _num(cur.late_days) if graded and cur else "",
                "penalty": _num(cur.penalty) if graded and cur else "",
                "status": row.status,
                "late": yes_no(row.late),
                "tampered": yes_no(bool(row.tampered)),
                "similarity_flag": yes_no(row.similarity is not None and row.similarity.shown),
                "deadline": cur.deadline.isoformat(timespec="seconds")
                if cur and cur.deadline
                else "",
                "graded_at": cur.graded_at.isoformat(timespec="seconds") if cur else "",
                "commit": _cell(cur.commit) if cur else "",
            }
        )
    return rows


def write_lms_csv(board: Board, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=LMS_COLUMNS)
        writer.writeheader()
        writer.writerows(lms_rows(board))
    return path


def write_test_matrix(board: Board, path: Path) -> Path:
    """Students × checks: each cell is the points the student's current submission earned.

    The header names each check ``"<number> <name>"``. A check worth 0 points (the integrity
    checks) shows ``passed`` or ``failed``, since its points cannot tell. A cell is empty when
    the check did not run on the student's current submission: the submission was not fully
    graded (it does not import, nothing was graded, the grader failed; the ``status`` and
    ``score`` columns say which), or it was graded by a grader version without that check.
    Empty means "not run", 0 means "ran and failed". ``score`` is the grader's points after
    any late penalty, bonus included (the LMS file applies the bonus policy).
    """
    checks = board.checks
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["student", "status", "score", "max_score", *(f"{c.number} {c.name}" for c in checks)]
        )
        writer.writerow(
            ["(max)", "", "", _num(board.max_score), *(_num(c.max_score) for c in checks)]
        )
        for row in board.students:
            writer.writerow(
                [
                    _cell(row.student),
                    row.status,
                    _num(row.score),
                    _num(row.max_score),
                    *_cells(row, [c.name for c in checks]),
                ]
            )
    return path


def _cells(row: StudentRow, names: list[str]) -> list[str]:
    cur = row.current
    if cur is None or cur.status != GRADED:  # the checks did not run: nothing to show per check
        return [""] * len(names)
    by_name = {t.name: t for t in cur.result.tests}
    cells = []
    for name in names:
        test = by_name.get(name)
        if test is None:
            cells.append("")
        elif test.max_score == 0:
            cells.append(test.status)
        else:
            cells.append(_num(test.score))
    return cells


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas in a text cell (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
