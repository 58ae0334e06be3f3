"""``python -m autograder scoreboard RESULTS_DIR --out SITE_DIR [--db PATH]``.

Ingests a results directory written by ``grade-repos`` into the gradebook database (history
kept, the same results ingested twice change nothing), then builds the static site from the
whole gradebook: ``index.html``, ``class.html``, ``students/*.html``, ``figures/*.png`` and
``exports/*.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from autograder.scoreboard.db import Gradebook, GradebookError
from autograder.scoreboard.ingest import problems_text, read_results_dir
from autograder.scoreboard.model import Board, Problem
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
        if self.site.removed:
            lines.append(f"removed {len(self.site.removed)} file(s) of earlier builds")
        lines.append(f"scoreboard: {self.site.index} (built in {self.seconds:.1f} s)")
        return "\n".join(lines)


def ingest(gradebook: Gradebook, results_dir: Path) -> tuple[int, int, list[Problem]]:
    """Read one results directory into the gradebook; returns (added, unchanged, problems).

    A file that cannot be read, or that the database refuses, is one of the problems (recorded
    in the gradebook too); it never stops the others.
    """
    submissions, problems = read_results_dir(results_dir)
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
) -> ScoreboardReport:
    """Ingest ``results_dir`` (one directory, or several in order) and build the site.

    ``db_path`` defaults to ``gradebook.sqlite3`` inside the (first) results directory, so that
    successive grading rounds written there accumulate their history in one place.

    Raises ``FileNotFoundError`` (no results directory), ``GradebookError`` (the database
    cannot be opened or written) or ``SiteError`` (``out_dir`` is not the scoreboard's), all
    before anything is changed.
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
    db_file = Path(db_path) if db_path is not None else dirs[0] / DB_FILENAME
    previous_build(Path(out_dir))  # refuse someone else's directory before touching anything
    added = unchanged = 0
    problems: list[Problem] = []
    with Gradebook(db_file) as gradebook:
        for d in dirs:
            a, u, p = ingest(gradebook, d)
            added, unchanged = added + a, unchanged + u
            problems.extend(p)
        board = Board(gradebook.students(), problems=problems)
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
    )


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


def run(args: argparse.Namespace) -> int:
    try:
        report = build_scoreboard(
            results_dir=args.results_dir, out_dir=args.out, db_path=args.db, title=args.title
        )
    except (FileNotFoundError, NotADirectoryError, GradebookError, SiteError) as exc:
        print(f"scoreboard: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the site directory cannot be written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"scoreboard: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
