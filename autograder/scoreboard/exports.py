"""CSV exports over a ``Board``: the per-check matrix and the LMS gradebook import file.

LMS layout (``lms_grades.csv``, documented in docs/scoreboard.md), one row per student:

    student,score,max_score,percent,status,late,tampered,graded_at,commit

``student`` is the GitHub login (map it to the LMS's username/e-mail column on import);
``score`` includes bonus points and may exceed ``max_score``; ``score`` is EMPTY when no
grade could be computed (missing repository, clone failure, grader error) so that the LMS does
not record a zero for something that is not the student's fault: decide those by hand.
A submission that does not import is graded (score 0, status ``could_not_grade``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.grading.results import GRADED
from autograder.scoreboard.model import Board, StudentRow

LMS_COLUMNS = (
    "student", "score", "max_score", "percent", "status", "late", "tampered", "graded_at",
    "commit",
)  # fmt: skip


def lms_rows(board: Board) -> list[dict[str, str]]:
    rows = []
    for row in board.students:
        cur = row.current
        gradable = row.score is not None  # None: repository problem or grader error
        rows.append(
            {
                "student": _cell(row.student),
                "score": _num(row.score) if gradable else "",
                "max_score": _num(row.max_score),
                "percent": f"{100 * row.fraction:.1f}"
                if gradable and row.fraction is not None
                else "",
                "status": row.status,
                "late": "yes" if row.late else "no",
                "tampered": "yes" if row.tampered else "no",
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

    The header names each check ``"<number> <name>"``. A cell is empty when the check did not
    run on the student's current submission: the submission was not fully graded (it does not
    import, the repository is missing, the grader failed; the ``status`` and ``score`` columns
    say which, and a submission that does not import still scores 0 there), or it was graded
    by a grader version without that check. Empty means "not run", 0 means "ran and failed".
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
    by_name = {t.name: t.score for t in cur.result.tests}
    return [_num(by_name.get(n)) for n in names]


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas in a text cell (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
