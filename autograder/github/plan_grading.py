"""``python -m autograder plan-grading ROSTER --previous DIR --out PLAN``: who needs grading.

The grading workflow's first job (``github.planning``): it lists every repository's head with
``git ls-remote`` (the token's only use here; no student code, nothing cloned) against the
previous run's results, writes ``PLAN/roster.csv`` with the students to grade and
``PLAN/plan.json`` with every student and why, and with ``--github-output FILE`` appends
``changed=N``, ``shards=[1,...,K]`` and ``total=K`` for the workflow (``shards=[]`` when nothing
changed: the run ends there). Exit status 0 when planned (whatever it found), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autograder.github.options import DEFAULT_TOKEN_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("roster", metavar="ROSTER.csv", help="the class roster (student,repo)")
    parser.add_argument(
        "--previous",
        required=True,
        metavar="DIR",
        help="the previous run's results (missing or empty: everyone is graded)",
    )
    parser.add_argument("--out", required=True, metavar="PLAN", help="where to write the plan")
    parser.add_argument("--deadline", metavar="ISO-8601", help="as for grade-repos")
    parser.add_argument("--late-days", type=int, default=0, metavar="N", help="as for grade-repos")
    parser.add_argument(
        "--late-penalty", type=float, default=0.0, metavar="P", help="as for grade-repos"
    )
    parser.add_argument("--force", action="store_true", help="plan to grade everyone")
    parser.add_argument(
        "--only-while-open",
        action="store_true",
        help="plan nothing once the assignment is closed (latest deadline + late days)",
    )
    parser.add_argument("--max-shards", type=int, default=4, metavar="K", help="at most K shards")
    parser.add_argument(
        "--per-shard", type=int, default=30, metavar="N", help="students per shard (default 30)"
    )
    parser.add_argument("--jobs", type=int, default=8, metavar="N", help="heads listed at once")
    parser.add_argument(
        "--github-output", metavar="FILE", help="append changed=, shards= and total= to FILE"
    )
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the GitHub token (default {DEFAULT_TOKEN_ENV})",
    )
    parser.add_argument("--git-host", default="github.com", help="host that gets the token")


def run(args: argparse.Namespace) -> int:
    from autograder.github.deadlines import LatePolicy, parse_deadline
    from autograder.github.planning import plan_grading
    from autograder.github.roster import RosterError

    try:
        plan = plan_grading(
            roster=args.roster,
            previous_dir=args.previous,
            out_dir=args.out,
            deadline=parse_deadline(args.deadline) if args.deadline else None,
            late_policy=LatePolicy(days=args.late_days, penalty_percent=args.late_penalty),
            force=args.force,
            only_while_open=args.only_while_open,
            max_shards=args.max_shards,
            per_shard=args.per_shard,
            jobs=args.jobs,
            token=os.environ.get(args.token_env) or None,
            git_host=args.git_host,
        )
    except (RosterError, ValueError) as exc:
        print(f"plan-grading: {exc}", file=sys.stderr)
        return 2
    for student in plan.students:
        print(f"{'grade' if student.grade else 'keep '} {student.student}: {student.why}")
    n = len(plan.to_grade)
    state = "open" if plan.open else f"closed since {plan.closes_at}"
    print(
        f"{n} of {len(plan.students)} student(s) to grade in {plan.shards} shard(s); "
        f"the assignment is {state}"
    )
    if args.github_output:
        with Path(args.github_output).open("a", encoding="utf-8") as f:
            f.write(f"changed={n}\n")
            f.write(f"shards={json.dumps(list(range(1, plan.shards + 1)))}\n")
            f.write(f"total={plan.shards}\n")
    return 0
