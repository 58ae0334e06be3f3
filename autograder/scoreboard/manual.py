"""Manual points from a CSV file (``scoreboard ... --manual-points FILE``).

The file has a header row and the columns ``student,points,comment`` (``comment`` optional, in
any order, other columns ignored): the student's login (any case), the points (a number, may
be negative: a deduction) and a comment for the record. Every row is checked before anything
is stored: a file with one bad row is refused whole (``ManualPointsError``, exit status 2),
with the line of each problem.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from autograder.grading.results import clean_text
from autograder.scoreboard.db import ManualEntry
from autograder.scoreboard.model import login_key

REQUIRED_COLUMNS = ("student", "points")
MAX_COMMENT_CHARS = 2_000
MAX_ABS_POINTS = 1_000.0  # far above any assignment's points: a typo, not a grade
MAX_BYTES = 5 * 1024 * 1024


class ManualPointsError(ValueError):
    """The file cannot be used; nothing of it was stored."""


def read_manual_points(path: Path) -> list[ManualEntry]:
    """The entries of ``path``, or ``ManualPointsError`` listing every bad line."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ManualPointsError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is fine
    except OSError as exc:
        raise ManualPointsError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManualPointsError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    reader = csv.DictReader(text.splitlines())
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManualPointsError(
            f"{path}: the header must name the columns student,points[,comment]; "
            f"missing: {', '.join(missing)}"
        )
    reader.fieldnames = header
    entries: list[ManualEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        student = (row.get("student") or "").strip()
        raw = (row.get("points") or "").strip()
        if not student:
            problems.append(f"line {line}: no student")
            continue
        try:
            points = float(raw)
        except ValueError:
            problems.append(f"line {line}: points {raw!r} of {student!r} is not a number")
            continue
        if not math.isfinite(points) or abs(points) > MAX_ABS_POINTS:
            problems.append(f"line {line}: points {raw!r} of {student!r} is out of range")
            continue
        key = login_key(student)
        if key in seen:
            problems.append(f"line {line}: {student!r} again (first on line {seen[key]})")
            continue
        seen[key] = line
        comment = clean_text((row.get("comment") or "").strip(), limit=MAX_COMMENT_CHARS)
        entries.append(ManualEntry(student, points, comment))
    if problems:
        raise ManualPointsError(
            f"{path}: nothing was imported:\n  "
            + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    return entries
