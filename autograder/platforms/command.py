"""``python -m autograder export {notebooks,otter,nbgrader} ...``: thin glue over the exporters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    nbs = sub.add_parser(
        "notebooks",
        help="write the student and reference notebooks from the solution file",
        description="Write assignment/ and solutions/batchnorm_gradclip_exercise.ipynb.",
    )
    nbs.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if a committed notebook is out of date",
    )
    otter = sub.add_parser(
        "otter",
        help="write the student notebook and the Gradescope autograder zip for otter-grader",
        description="Write OUT_DIR/student/ (what students get) and OUT_DIR/autograder.zip.",
    )
    otter.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    otter.add_argument(
        "--force", action="store_true", help="replace OUT_DIR if it exists and is not empty"
    )
    otter.add_argument(
        "--with-data",
        action="store_true",
        help="put Fashion-MNIST (30 MB) into the zip: grading then needs no download",
    )
    nbg = sub.add_parser(
        "nbgrader",
        help="write an nbgrader course directory with this assignment",
        description="Write COURSE_DIR/nbgrader_config.py and COURSE_DIR/source/<assignment>/.",
    )
    nbg.add_argument("course_dir", type=Path, metavar="COURSE_DIR")
    nbg.add_argument("--assignment", default=None, help="assignment name in the course")
    nbg.add_argument(
        "--force", action="store_true", help="replace the assignment's source folder if it exists"
    )


def run(args: argparse.Namespace) -> int:
    from autograder.grading.notebook_script import NotebookSupportMissing
    from autograder.platforms.otter import ExportError

    try:
        if args.target == "notebooks" and args.check:
            return _check_notebooks()
        written = _export(args)
    except (ExportError, NotebookSupportMissing) as exc:
        print(f"export {args.target}: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def _check_notebooks() -> int:
    """Exit status 1 when a committed notebook is out of date (``export notebooks --check``)."""
    from autograder.authoring.notebooks import stale_notebooks

    stale = stale_notebooks()
    for path in stale:
        print(f"{path} is out of date: run `python -m autograder export notebooks`")
    if not stale:
        print("notebooks are up to date")
    return 1 if stale else 0


def _export(args: argparse.Namespace) -> list[Path]:
    """Write the export ``args`` ask for; return the paths written."""
    if args.target == "notebooks":
        from autograder.authoring.notebooks import write_notebooks

        return write_notebooks()
    if args.target == "otter":
        from autograder.platforms.otter import export_otter

        return export_otter(out_dir=args.out_dir, force=args.force, with_data=args.with_data)
    if args.target == "nbgrader":
        from autograder.platforms.nbgrader import ASSIGNMENT_NAME, export_nbgrader

        return export_nbgrader(
            course_dir=args.course_dir,
            assignment=args.assignment or ASSIGNMENT_NAME,
            force=args.force,
        )
    raise AssertionError(f"unknown export target {args.target!r}")
