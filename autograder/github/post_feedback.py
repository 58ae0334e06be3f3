"""``python -m autograder post-feedback RESULTS_DIR``: each student's feedback as a GitHub issue.

Reads the results files that ``grade-repos`` wrote and keeps one issue titled "Autograder
feedback" in each student's repository up to date (``github.issues``): opened once, its body
replaced when a new commit is graded, a comment when the score changed. It runs no student code;
the grading workflow calls it in its last job. The token needs Issues: read and write on the
students' repositories.

``--dry-run`` prints every issue it would post and needs no token. Exit status: 0 when every issue
was posted, 1 when some could not be (each reported, e.g. a repository whose issues are turned
off; the others are still posted), 2 for a usage error (no token, no such folder).
"""

from __future__ import annotations

import argparse
import os
import sys

from autograder.github.options import DEFAULT_TOKEN_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="grade-repos --out folder")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the issues instead of posting them"
    )
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="only the results of this grading run (grade-repos --run-id): the others are as "
        "they were posted before",
    )
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the GitHub token (default {DEFAULT_TOKEN_ENV})",
    )
    parser.add_argument(
        "--api-url", default=None, help="GitHub API URL (GitHub Enterprise: https://HOST/api/v3)"
    )
    parser.add_argument(
        "--git-host", default="github.com", help="host of the repositories' clone URLs"
    )


def run(args: argparse.Namespace) -> int:
    from autograder.github.issues import PostFeedbackError, post_feedback, print_report

    token = os.environ.get(args.token_env) or None
    try:
        report = post_feedback(
            results_dir=args.results_dir,
            token=token,
            base_url=args.api_url,
            hosts=(args.git_host,),
            dry_run=args.dry_run,
            run_id=args.run_id,
        )
    except PostFeedbackError as exc:
        print(
            f"post-feedback: {exc}"
            + (
                f" (the environment variable {args.token_env} is empty or unset)"
                if not token
                else ""
            ),
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        from autograder.github import api as github_api  # PyGithub is an optional extra

        if isinstance(exc, github_api.GitHubAPIError):  # the token's account cannot be read
            print(f"post-feedback: {exc}", file=sys.stderr)
            return 1
        raise
    print_report(report)
    return 1 if report.failures else 0
