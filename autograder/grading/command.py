"""``python -m autograder grade SUBMISSION --out RESULTS.json``: grade one submission.

Exit status: 0 whenever grading completed, whatever the score (also when the submission does
not import, crashes or hangs); 1 when the grader itself failed (a results file is still written:
score 0, a visible "could not grade" entry, the traceback for the instructor); 2 for usage errors.
The work is ``runner.grade_and_write``; this module is the command line around it, and imports
the grader (torch, pytest) only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.grading.settings import GRADER_MEMORY_MB, TRAINING_MODES
from autograder.grading.timeline import Timeline
from autograder.sandbox.isolation import ISOLATIONS, Limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", help="the exercise file, or a directory holding it")
    parser.add_argument("--out", type=Path, help="where to write the results JSON")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="auto",
        help="bwrap: bubblewrap sandbox (no network, repository hidden), a grader error when "
        "bubblewrap cannot run here; process: resource limits only (trusted code); auto: bwrap "
        "when it works on this machine, else process with a warning (default)",
    )
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiply time limits")
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=Limits.memory_mb,
        help="address space of each student process (default %(default)s)",
    )
    parser.add_argument(
        "--grader-memory-mb",
        type=int,
        default=GRADER_MEMORY_MB,
        help="address space of the grader itself (default %(default)s; 0: no limit)",
    )
    parser.add_argument("--data-root", help="torchvision root holding FashionMNIST/raw")
    parser.add_argument("--select", help="only run checks matching this pytest -k expression")
    parser.add_argument(
        "--training",
        choices=TRAINING_MODES,
        default="shared",
        help="where compare_runs' training for the accuracy checks runs: in the one student "
        "process, after the other checks (shared; default: on 2 cores a third process "
        "importing torch costs more than the overlap saves), or in a second student process "
        "started at once (separate: sooner done on machines with cores to spare)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="write a timeline of the grading to FILE (JSON; opens in Perfetto or "
        "chrome://tracing) and print it: both processes, imports, each probe and check",
    )


def run(args: argparse.Namespace) -> int:
    from autograder.grading.timeline import Timeline

    timeline = Timeline()
    with timeline.span("import the grader"):
        from autograder.grading.process import end_with_students_on_sigterm
        from autograder.grading.results import GRADER_ERROR
        from autograder.grading.runner import grade_and_write, own_address_space_capped
        from autograder.grading.table import render_table

    end_with_students_on_sigterm()  # a caller's timeout stops the students too
    limits = Limits(timeout_scale=args.timeout_scale, memory_mb=args.memory_mb)
    with own_address_space_capped(args.grader_memory_mb):
        result = grade_and_write(
            submission=args.submission,
            out=args.out,
            limits=limits,
            isolation=args.isolation,
            data_root=args.data_root,
            select=args.select,
            timeline=timeline,
            training=args.training,
        )
    if not args.quiet:
        print(render_table(result))
        if args.out:
            print(f"results written to {args.out}")
    if args.profile:
        write_profile(timeline, args.profile, show=not args.quiet)
    if result.extra.get("isolation_note"):
        print(f"warning: {result.extra['isolation_note']}", file=sys.stderr)
    if result.status == GRADER_ERROR:
        print(f"grader error: {result.reason}", file=sys.stderr)
        return 1
    return 0


def write_profile(timeline: Timeline, path: Path, *, show: bool) -> None:
    """Write the grading's timeline to ``path`` as JSON; print it as text if ``show``."""
    from autograder.files import write_json_atomic
    from autograder.grading.timeline import render_timeline, timeline_json

    try:
        write_json_atomic(timeline_json(timeline), path)
    except OSError as exc:
        print(f"could not write the profile to {path}: {exc}", file=sys.stderr)
    if show:
        print(render_timeline(timeline, min_seconds=0.05))
        print(f"timeline written to {path}")
