"""``python -m autograder post-statuses RESULTS_DIR``: each score as a commit status on GitHub.

Reads the per-student results files that ``grade-repos`` wrote (``RESULTS_DIR/<student>.json``)
and posts, on each graded commit of a GitHub repository, the status ``autograder/score`` with the
score and the flags *late* and *protected files changed*, linked to the student's feedback issue
when ``post-feedback`` has recorded it (``--run-id ID``: only the results of that grading run).
It runs no student code, so the grading workflow calls it in its last job.

The description students see never carries the grader's own error text: a grader error gets a
fixed sentence (details stay in the JSON, for the instructor). ``--dry-run`` prints what would be
posted and needs no token. Exit status: 0 when every status was posted, 1 when some could not be
(each is reported, the others are still posted), 2 for a usage error (no token, no such folder).
"""

from __future__ import annotations

import argparse
import os
import sys

from autograder.github.options import add_github_arguments
from autograder.github.statuses import PostStatusError, post_statuses, print_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="grade-repos --out folder")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the statuses instead of posting them"
    )
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="only the results of this grading run (grade-repos --run-id)",
    )
    add_github_arguments(parser, git_host_help="host of the repositories' clone URLs")


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env) or None
    if not token and not args.dry_run:
        print(
            f"post-statuses: no GitHub token: the environment variable {args.token_env} is "
            "empty or unset (it must hold a token that may write commit statuses); "
            "--dry-run shows the statuses without posting",
            file=sys.stderr,
        )
        return 2
    try:
        report = post_statuses(
            results_dir=args.results_dir,
            token=token,
            base_url=args.api_url,
            target_url=args.status_url,
            hosts=(args.git_host,),
            dry_run=args.dry_run,
            run_id=args.run_id,
        )
    except PostStatusError as exc:
        print(f"post-statuses: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    return 1 if report.failures else 0
