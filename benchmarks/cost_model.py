"""Billed Actions minutes per day and time from push to feedback, for a grading cadence.

    .venv/bin/python benchmarks/cost_model.py --per-student S [--students 300]
        [--pushes-per-hour 60] [--per-shard 30] [--max-shards 4]
        [--plan 45] [--shard-start 120] [--publish-start 60] [--writes-per-student 2]

The model of ``docs/github.md`` (section *Cost and time to feedback*), for the workflow as
``grade.yml`` runs it; every parameter in seconds. ``--per-student`` is measured
(``benchmarks/bench_incremental.py``: wall time per student graded with 2 jobs on 2 cores, as on
GitHub's standard runner); the others are parameters to read off your own runs' timings (their
defaults are assumptions, not measurements: a job's start, checkout, Python, the cache restore of
``.venv`` and the system packages). For a cadence of I minutes:

* students to grade per run: k = min(students, pushes per hour * I / 60) (a student who pushes
  twice between runs is graded once: k is an upper bound);
* shards: s = min(max_shards, ceil(k / per_shard)); each shard runs for
  shard_start + ceil(k / s) * per_student;
* the plan job runs for ``plan`` (the only job of a run with nothing to grade); the last job for
  publish_start + k * writes_per_student (PyGithub spaces GitHub writes one second apart: an
  issue body and a status per student, a comment when the score changed);
* billed minutes per run = ceil(plan / 60) + s * ceil(shard / 60) + ceil(publish / 60) (GitHub
  rounds every job up to a whole minute); per day = runs per day * that;
* time from push to feedback = the wait for the next run, uniform over the interval (median I/2,
  95th percentile 0.95 I), plus the run's duration plan + shard + publish (the shards run side by
  side). GitHub may start scheduled runs late when it is busy: not in the model.

The old workflow, every 6 hours and everyone regraded in 4 shards, is the last row.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    interval_min: float
    graded_per_run: int
    shards: int
    billed_per_run: int
    billed_per_day: float
    run_minutes: float
    median_latency_min: float
    p95_latency_min: float


def costs(
    *,
    interval_min: float,
    graded: int,
    per_student: float,
    per_shard: int,
    max_shards: int,
    plan: float,
    shard_start: float,
    publish_start: float,
    writes_per_student: float,
) -> Costs:
    shards = min(max_shards, math.ceil(graded / per_shard)) if graded else 0
    shard = shard_start + math.ceil(graded / shards) * per_student if shards else 0.0
    publish = publish_start + graded * writes_per_student if graded else 0.0
    billed = math.ceil(plan / 60) + shards * math.ceil(shard / 60) + math.ceil(publish / 60)
    run = (plan + shard + publish) / 60
    runs_per_day = 24 * 60 / interval_min
    return Costs(
        interval_min=interval_min,
        graded_per_run=graded,
        shards=shards,
        billed_per_run=billed,
        billed_per_day=round(runs_per_day * billed, 1),
        run_minutes=round(run, 1),
        median_latency_min=round(interval_min / 2 + run, 1),
        p95_latency_min=round(0.95 * interval_min + run, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-student", type=float, required=True, help="measured, seconds")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--pushes-per-hour", type=float, default=60.0)
    parser.add_argument("--per-shard", type=int, default=30)
    parser.add_argument("--max-shards", type=int, default=4)
    parser.add_argument("--plan", type=float, default=45.0)
    parser.add_argument("--shard-start", type=float, default=120.0)
    parser.add_argument("--publish-start", type=float, default=60.0)
    parser.add_argument("--writes-per-student", type=float, default=2.0)
    args = parser.parse_args(argv)
    common = {
        "per_student": args.per_student,
        "plan": args.plan,
        "shard_start": args.shard_start,
        "publish_start": args.publish_start,
        "writes_per_student": args.writes_per_student,
    }
    print(
        "| cadence | graded per run | shards | billed min per run | billed min per day | "
        "run (min) | push to feedback, median / p95 (min) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for interval in (15, 30, 60):
        graded = min(args.students, math.ceil(args.pushes_per_hour * interval / 60))
        shown: set[int] = set()
        for per_shard in (args.per_shard, 10):  # the default, and more shards for speed
            c = costs(
                interval_min=interval,
                graded=graded,
                per_shard=per_shard,
                max_shards=args.max_shards,
                **common,
            )
            if c.shards in shown:
                continue
            shown.add(c.shards)
            print(
                f"| every {interval} min, {per_shard} per shard | {c.graded_per_run} | {c.shards} "
                f"| {c.billed_per_run} | {c.billed_per_day:g} | {c.run_minutes:g} | "
                f"{c.median_latency_min:g} / {c.p95_latency_min:g} |"
            )
    idle = costs(interval_min=30, graded=0, per_shard=args.per_shard, max_shards=4, **common)
    print(
        f"| every 30 min, nobody pushed | 0 | 0 | {idle.billed_per_run} | "
        f"{idle.billed_per_day:g} | {idle.run_minutes:g} | - |"
    )
    old = costs(
        interval_min=360,
        graded=args.students,
        per_shard=math.ceil(args.students / 4),
        max_shards=4,
        **{**common, "plan": 0.0},
    )
    print(
        f"| every 6 h, everyone regraded (before) | {old.graded_per_run} | {old.shards} | "
        f"{old.billed_per_run} | {old.billed_per_day:g} | {old.run_minutes:g} | "
        f"{old.median_latency_min:g} / {old.p95_latency_min:g} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
