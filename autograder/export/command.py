"""``python -m autograder export {notebooks,otter,nbgrader} ...``: thin glue over the exporters."""

from __future__ import annotations

import argparse
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
    if args.target == "notebooks":
        from autograder.notebook import stale_notebooks, write_notebooks

        if args.check:
            stale = stale_notebooks()
            for path in stale:
                print(f"{path} is out of date: run `python -m autograder export notebooks`")
            if not stale:
                print("notebooks are up to date")
            return 1 if stale else 0
        for path in write_notebooks():
            print(f"wrote {path}")
        return 0
    if args.target == "otter":
        from autograder.export.otter import ExportError, export_otter

        try:
            written = export_otter(out_dir=args.out_dir, force=args.force, with_data=args.with_data)
        except ExportError as exc:
            print(f"error: {exc}")
            return 2
        for path in written:
            print(f"wrote {path}")
        return 0
    if args.target == "nbgrader":
        from autograder.export.nbgrader import ASSIGNMENT_NAME, export_nbgrader
        from autograder.export.otter import ExportError

        try:
            written = export_nbgrader(
                course_dir=args.course_dir,
                assignment=args.assignment or ASSIGNMENT_NAME,
                force=args.force,
            )
        except ExportError as exc:
            print(f"error: {exc}")
            return 2
        for path in written:
            print(f"wrote {path}")
        return 0
    raise AssertionError(f"unknown export target {args.target!r}")
