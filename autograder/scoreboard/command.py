"""``python -m autograder scoreboard RESULTS_DIR --out SITE_DIR [--db PATH] [--bonus POLICY]
[--similarity FILE] [--manual-points FILE]``.

Ingests a results directory written by ``grade-repos`` into the gradebook database (history
kept, the same results ingested twice change nothing), stores manual points, then builds the
static site from the whole gradebook: ``index.html``, ``class.html``, ``students/*.html``,
``figures/*.png`` and ``exports/*.csv``, with the similarity report's flags.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path

from autograder.scoreboard.db import Gradebook, GradebookError, ManualEntry, legacy_run_id
from autograder.scoreboard.exports import BONUS_POLICIES, SEPARATE
from autograder.scoreboard.ingest import problems_text, read_results_dir
from autograder.scoreboard.manual import ManualPointsError, read_manual_points
from autograder.scoreboard.model import Board, Problem, login_key
from autograder.scoreboard.similarity_flags import (
    DEFAULT_LOCATION,
    SimilarityFileError,
    SimilarityReport,
    default_location,
    read_similarity,
)
from autograder.scoreboard.site import SiteError, SiteFiles, previous_build, write_site

DB_FILENAME = "gradebook.sqlite3"


@dataclass
class ScoreboardReport:
    """What one build did."""

    db_path: Path
    site: SiteFiles
    added: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    students: int = 0
    seconds: float = 0.0
    manual_changed: int = 0  # manual points entries stored or changed by this build
    similarity: Path | None = None  # the similarity.json shown

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.skipped]

    def summary(self) -> str:
        lines = [
            f"gradebook {self.db_path}: {self.added} new submission(s), "
            f"{self.unchanged} already known; {self.students} student(s)",
        ]
        if self.problems:
            lines.append(
                f"{len(self.skipped)} file(s) skipped, "
                f"{len(self.problems) - len(self.skipped)} warning(s):"
            )
            lines.append(problems_text(self.problems))
        if self.manual_changed:
            lines.append(f"manual points: {self.manual_changed} entr(y/ies) stored or changed")
        if self.similarity is not None:
            lines.append(f"similarity flags from {self.similarity}")
        if self.site.removed:
            lines.append(f"removed {len(self.site.removed)} file(s) of earlier builds")
        lines.append(f"scoreboard: {self.site.index} (built in {self.seconds:.1f} s)")
        return "\n".join(lines)


def ingest(
    gradebook: Gradebook, results_dir: Path, *, ingested_at: str = ""
) -> tuple[int, int, list[Problem]]:
    """Read one results directory into the gradebook; returns (added, unchanged, problems).

    A file that cannot be read, or that the database refuses, is one of the problems (recorded
    in the gradebook too); it never stops the others. A file that names no ``run_id`` belongs
    to the run ``"<results_dir> ingested <ingested_at>"`` (default: now).
    """
    when = ingested_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    submissions, problems = read_results_dir(
        results_dir, fallback_run_id=legacy_run_id(str(results_dir), when)
    )
    report = gradebook.add(submissions)
    problems = problems + report.problems
    if problems:
        gradebook.add_problems(problems)
    return report.added, report.unchanged, problems


def build_scoreboard(
    *,
    results_dir: str | PathLike[str] | Sequence[str | PathLike[str]],
    out_dir: str | PathLike[str],
    db_path: str | PathLike[str] | None = None,
    title: str | None = None,
    bonus_policy: str = SEPARATE,
    similarity: str | PathLike[str] | None = None,
    manual_points: str | PathLike[str] | None = None,
) -> ScoreboardReport:
    """Ingest ``results_dir`` (one directory, or several in order) and build the site.

    ``db_path`` defaults to ``gradebook.sqlite3`` inside the (first) results directory, so that
    successive grading rounds written there accumulate their history in one place.
    ``bonus_policy`` is how the grade export counts bonus points (``exports.BONUS_POLICIES``).
    ``similarity`` is a similarity.json to show (default: ``similarity/similarity.json`` in
    the last results directory, when it is there); ``manual_points`` a CSV file of manual
    points to store in the gradebook (kept for later builds).

    Raises ``FileNotFoundError`` (no results directory), ``ValueError`` (an unknown bonus
    policy), ``ManualPointsError`` or ``SimilarityFileError`` (a file given that cannot be
    used), ``GradebookError`` (the database cannot be opened or written) or ``SiteError``
    (``out_dir`` is not the scoreboard's), all before anything is changed.
    """
    started = time.perf_counter()
    dirs = (
        [Path(results_dir)]
        if isinstance(results_dir, (str, PathLike))
        else [Path(d) for d in results_dir]
    )
    if not dirs:
        raise ValueError("no results directory given")
    for d in dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"results directory not found: {d}")
    if bonus_policy not in BONUS_POLICIES:
        raise ValueError(f"unknown bonus policy {bonus_policy!r}; choose one of {BONUS_POLICIES}")
    db_file = Path(db_path) if db_path is not None else dirs[0] / DB_FILENAME
    previous_build(Path(out_dir))  # refuse someone else's directory before touching anything
    problems: list[Problem] = []
    manual: list[ManualEntry] = read_manual_points(Path(manual_points)) if manual_points else []
    report = _similarity(similarity, dirs, problems)
    added = unchanged = changed = 0
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with Gradebook(db_file) as gradebook:
        for d in dirs:
            a, u, p = ingest(gradebook, d, ingested_at=when)
            added, unchanged = added + a, unchanged + u
            problems.extend(p)
        if manual:
            changed = gradebook.set_manual_points(manual, source=str(manual_points))
        rows = gradebook.students()
        known = {login_key(r.student) for r in rows}
        for key, entry in gradebook.manual_points().items():
            if key not in known:
                problems.append(
                    Problem(
                        entry.source or "manual points",
                        f"manual points for {key!r}, who has no submission in the gradebook: "
                        "kept, and shown once they have one",
                        skipped=False,
                    )
                )
    board = Board(
        rows,
        problems=problems,
        bonus_policy=bonus_policy,
        similarity_source=str(report.source) if report else "",
    )
    if report is not None:
        for row in board.students:
            row.similarity = report.flag_for(row.student)
    if title:
        board.title = title
    site = write_site(board, Path(out_dir))
    return ScoreboardReport(
        db_path=db_file,
        site=site,
        added=added,
        unchanged=unchanged,
        problems=problems,
        students=len(board.students),
        seconds=time.perf_counter() - started,
        manual_changed=changed,
        similarity=report.source if report else None,
    )


def _similarity(
    given: str | PathLike[str] | None, dirs: list[Path], problems: list[Problem]
) -> SimilarityReport | None:
    """The similarity report to show: the one given (its errors are the caller's), else the
    one in its documented place (an error there is a warning, and the board has no flags)."""
    if given is not None:
        return read_similarity(Path(given))
    found = default_location(dirs)
    if found is None:
        return None
    try:
        return read_similarity(found)
    except SimilarityFileError as exc:
        problems.append(Problem(str(found), f"similarity flags not shown: {exc}", skipped=False))
        return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results_dir",
        nargs="+",
        type=Path,
        metavar="RESULTS_DIR",
        help="directory of per-student results (<student>.json) written by grade-repos; "
        "several are ingested in the order given",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="SITE_DIR",
        help="where to write the site: a new or empty directory, or one the scoreboard built",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help=f"gradebook database (default: RESULTS_DIR/{DB_FILENAME})",
    )
    parser.add_argument("--title", help="assignment title shown on the pages")
    parser.add_argument(
        "--bonus",
        choices=BONUS_POLICIES,
        default=SEPARATE,
        help="how lms_grades.csv counts bonus points: 'separate' (default: score capped at the "
        "maximum, bonus in its own column), 'cap' (added, capped at the maximum) or 'include' "
        "(added, may exceed the maximum)",
    )
    parser.add_argument(
        "--similarity",
        type=Path,
        metavar="FILE",
        help="similarity.json written by `python -m autograder similarity` (default: "
        f"RESULTS_DIR/{DEFAULT_LOCATION.as_posix()} of the last RESULTS_DIR, if present)",
    )
    parser.add_argument(
        "--manual-points",
        type=Path,
        metavar="FILE",
        help="CSV file student,points,comment: manual points to store in the gradebook "
        "(kept for later builds; an import replaces a student's earlier entry)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = build_scoreboard(
            results_dir=args.results_dir,
            out_dir=args.out,
            db_path=args.db,
            title=args.title,
            bonus_policy=args.bonus,
            similarity=args.similarity,
            manual_points=args.manual_points,
        )
    except (
        FileNotFoundError,
        NotADirectoryError,
        GradebookError,
        SiteError,
        ManualPointsError,
        SimilarityFileError,
    ) as exc:
        print(f"scoreboard: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the site directory cannot be written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"scoreboard: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
