"""The command-line options shared by the commands that talk to GitHub."""

from __future__ import annotations

import argparse

DEFAULT_TOKEN_ENV = "CLASSROOM_TOKEN"


def add_github_arguments(parser: argparse.ArgumentParser, *, git_host_help: str) -> None:
    """The options of the commands that talk to GitHub (post-statuses, grade-repos)."""
    parser.add_argument("--status-url", help="link of the commit status; {student} is replaced")
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the GitHub token (default {DEFAULT_TOKEN_ENV})",
    )
    parser.add_argument(
        "--api-url", default=None, help="GitHub API URL (GitHub Enterprise: https://HOST/api/v3)"
    )
    parser.add_argument("--git-host", default="github.com", help=git_host_help)
