"""``python -m autograder grade-batch SUBMISSION... --out-dir DIR``: grade many submissions.

Each SUBMISSION (a folder holding the exercise, or the file itself) is graded exactly as
``autograder grade SUBMISSION --out DIR/<name>.json`` would grade it, by a pool of long-lived
grading servers (``grading.pool``; ``--jobs`` of them) instead of a grader process per
submission: the grader starts once per server, while every submission still gets fresh sandboxed
student processes. ``<name>`` is the folder's name (for the exercise file or notebook itself: its
folder's; for another file: its stem), made unique with ``-2``, ``-3``... A grading that does not
complete (its server hangs past ``--timeout`` or dies) gets a grader-error results file saying so.

Exit status: 0 when every grading completed (whatever the scores); 1 when one did not, or ended
in a grader error; 2 for usage errors. A short table (name, score, status, seconds) is printed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.settings import GRADER_MEMORY_MB
from autograder.sandbox.isolation import ISOLATIONS, Limits
from autograder.sandbox.names import EDITIONS

DEFAULT_TIMEOUT_S = 1800.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="exercise files, or folders holding one",
    )
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="where DIR/<name>.json are written"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="gradings in parallel (grading servers)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help="wall time per grading before its server is stopped (default %(default)g s)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    # the options of `grade`, with the same meanings
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="auto",
        help="as for `grade`: bwrap, process, or auto (bwrap when it works; default)",
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
        help="address space of each grading server (default %(default)s; 0: no limit)",
    )
    parser.add_argument("--data-root", help="torchvision root holding FashionMNIST/raw")
    parser.add_argument("--select", help="only run checks matching this pytest -k expression")


def output_names(submissions: list[str]) -> list[str]:
    """A distinct results-file name (without ``.json``) for each submission, in order."""
    names: list[str] = []
    taken: set[str] = set()
    for given in submissions:
        path = Path(given).absolute()
        if path.name in EDITIONS:
            path = path.parent
        base = path.name if path.is_dir() or path.suffix == "" else path.stem
        base = re.sub(r"[^\w.-]+", "_", base).strip("._") or "submission"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        names.append(name)
    return names


@dataclass
class BatchRow:
    """One submission's line in the table."""

    name: str
    submission: str
    out: Path
    status: str
    score: float
    max_score: float
    seconds: float
    note: str = ""

    @property
    def completed(self) -> bool:
        from autograder.grading.results import GRADER_ERROR

        return self.status != GRADER_ERROR


def grade_batch(
    *,
    submissions: list[str],
    out_dir: Path,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
    isolation: str = "auto",
    timeout_scale: float = 1.0,
    memory_mb: int = Limits.memory_mb,
    grader_memory_mb: int = GRADER_MEMORY_MB,
    data_root: str | None = None,
    select: str | None = None,
) -> list[BatchRow]:
    """Grade every submission into ``out_dir/<name>.json`` with a pool of ``jobs`` servers.

    A grading that does not complete gets a grader-error results file that says why. Rows come
    in the order of ``submissions``.
    """
    from autograder import __version__
    from autograder.files import write_json_atomic
    from autograder.grading.gradescope import to_gradescope
    from autograder.grading.pool import GraderPool, GradingFailed
    from autograder.grading.results import GRADER_ERROR, MAX_SCORE, not_graded

    if jobs < 1:
        raise ValueError("--jobs must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    limits = Limits(timeout_scale=timeout_scale, memory_mb=memory_mb)
    names = output_names(submissions)
    with GraderPool(
        workers=max(1, min(jobs, len(submissions))),
        isolation=isolation,
        timeout=timeout,
        limits=limits,
        grader_memory_mb=grader_memory_mb,
        data_root=data_root,
        select=select,
    ) as pool:

        def one(index: int) -> BatchRow:
            submission, name = submissions[index], names[index]
            out = out_dir / f"{name}.json"
            started = time.monotonic()
            try:
                reply = pool.grade(submission, out)
            except GradingFailed as exc:
                failure = not_graded(
                    status=GRADER_ERROR,
                    reason=str(exc),
                    output="The grader failed before it could finish; this is not a verdict on "
                    "your code. Your instructor has the details and will regrade.",
                    submission=submission,
                    grader_version=__version__,
                    traceback=exc.log_tail,
                )
                failure.execution_time = time.monotonic() - started
                write_json_atomic(to_gradescope(failure.cleaned()), out)
                return BatchRow(
                    name=name,
                    submission=submission,
                    out=out,
                    status=GRADER_ERROR,
                    score=0.0,
                    max_score=MAX_SCORE,
                    seconds=failure.execution_time,
                    note=str(exc),
                )
            return BatchRow(
                name=name,
                submission=submission,
                out=out,
                status=reply.status,
                score=reply.score,
                max_score=reply.max_score,
                seconds=reply.seconds,
                note=reply.reason,
            )

        pool.start()
        with ThreadPoolExecutor(max_workers=jobs) as threads:
            return list(threads.map(one, range(len(submissions))))


def render_rows(rows: list[BatchRow]) -> str:
    """The table printed by the command: one line per submission, then the totals."""
    width = max([len(r.name) for r in rows] + [10])
    lines = [f"{'submission':<{width}}  {'score':>11}  {'status':<15} {'seconds':>7}"]
    for r in rows:
        score = f"{r.score:g}/{r.max_score:g}"
        lines.append(f"{r.name:<{width}}  {score:>11}  {r.status:<15} {r.seconds:>7.1f}")
        if not r.completed and r.note:
            lines.append(f"{'':<{width}}  {r.note}")
    done = sum(r.completed for r in rows)
    lines.append(f"{done}/{len(rows)} graded to completion")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print("grade-batch: --jobs must be at least 1", file=sys.stderr)
        return 2
    started = time.monotonic()
    rows = grade_batch(
        submissions=list(args.submissions),
        out_dir=args.out_dir,
        jobs=args.jobs,
        timeout=args.timeout,
        isolation=args.isolation,
        timeout_scale=args.timeout_scale,
        memory_mb=args.memory_mb,
        grader_memory_mb=args.grader_memory_mb,
        data_root=args.data_root,
        select=args.select,
    )
    if not args.quiet:
        print(render_rows(rows))
        print(f"results written to {args.out_dir} in {time.monotonic() - started:.1f} s")
    return 0 if all(r.completed for r in rows) else 1
