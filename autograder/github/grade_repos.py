"""``python -m autograder grade-repos ROSTER.csv --out DIR``: grade every student repository.

For each roster row (columns ``student,repo`` and optionally ``deadline``, the student's own;
``repo`` is a git URL or a local path, relative to the roster's folder) this clones the
repository, picks the last commit at or before the student's deadline (committer date; later
commits make the row *late*; with ``--late-days N --late-penalty P`` the last commit up to N days
after it, P % of the maximum off per started day), compares the protected files with the manifest
of the current release (any change is reported as tampering and undone), grades the exercise as
``python -m autograder grade`` does, in one of ``--jobs`` long-lived grading servers
(``grading.pool``: the grader starts once, each student's code runs in fresh sandboxed
processes), and writes ``DIR/<student>.json``: the
results JSON plus ``student, repo, commit, committed_at, late, tampered, error, isolation,
grader_version, graded_at, run_id, deadline, raw_score, late_days, penalty, answers,
answers_source`` (``score`` after the penalty); ``DIR/feedback/<student>.md``, what the student
reads; ``DIR/submissions/<student>/``, the graded file(s). ``DIR/summary.csv`` has one row per
JSON file in DIR (and one for every student of the batch whose JSON could not be written).

Grading is incremental: a student whose commit to grade, grader and deadline are those of their
result already in DIR (or in ``--previous DIR``) keeps that result as it is (``github.reuse``);
``--force`` regrades everyone.

A row that cannot be graded (no repository, clone failure, empty repository, no exercise file,
no commit before the deadline, grader failure) is written with score 0 and ``error`` set; it never
stops the batch. Students are graded in parallel (``--jobs``), and a large class can be split
over several machines (``--shard K/N``) whose result folders are merged and summarised with
``--collect``. ``--isolation`` is passed to every ``grade`` (``bwrap`` makes a machine where
bubblewrap does not work a grader error instead of a weaker sandbox).

Fetching and grading can run as two steps, so that the token is never in the environment of a
process that runs student code: ``--fetch-only --clones DIR`` clones every repository (with the
token) into ``DIR/<student>.git`` (or notes why not in ``DIR/<student>.error``), and
``--clones DIR`` without ``--fetch-only`` grades from there (no network, no token).
``--post-status`` posts each score to GitHub as a commit status (``github.statuses``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from autograder.github.batch import fetch_repos, grade_repos
from autograder.github.options import add_github_arguments
from autograder.github.results_dir import load_results, write_summary
from autograder.github.roster import RosterError, RosterRow, roster_from_org
from autograder.sandbox.isolation import ISOLATIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "roster",
        nargs="?",
        metavar="ROSTER.csv",
        help="CSV with columns student,repo (repo: git URL or local path)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="folder for the results (required unless --fetch-only)"
    )
    parser.add_argument(
        "--deadline",
        metavar="ISO-8601",
        help="grade the last commit at or before this time (committer date; UTC if no zone); "
        "'none': the latest commits",
    )
    parser.add_argument(
        "--late-days",
        type=int,
        default=0,
        metavar="N",
        help="grade the last commit up to N days after each student's deadline (default 0)",
    )
    parser.add_argument(
        "--late-penalty",
        type=float,
        default=0.0,
        metavar="P",
        help="with --late-days: P %% of the maximum off per started day late (default 0)",
    )
    parser.add_argument(
        "--previous",
        metavar="DIR",
        help="results of an earlier run to reuse when still valid (default: --out itself)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade everyone, even unchanged students"
    )
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="names this grading run in the results (default: its start, UTC ISO-8601)",
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="students in parallel")
    parser.add_argument("--shard", metavar="K/N", help="grade only shard K of N of the roster")
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="auto",
        help="passed to every `grade`: bwrap (required on shared runners: a machine where "
        "bubblewrap fails gives grader errors), process, or auto (bwrap when it works)",
    )
    parser.add_argument(
        "--org", help="instead of a roster: the repositories of this GitHub organisation"
    )
    parser.add_argument(
        "--prefix", default="", help="with --org: repository name prefix (student = the rest)"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="grade nothing: rebuild DIR/summary.csv from DIR/*.json (after merging shards)",
    )
    parser.add_argument(
        "--fetch-only",
        action="store_true",
        help="only clone the repositories into --clones DIR (the step that needs the token)",
    )
    parser.add_argument(
        "--clones",
        metavar="DIR",
        help="with --fetch-only: where to clone; otherwise: grade from these clones (no network)",
    )
    parser.add_argument(
        "--post-status",
        action="store_true",
        help="post each score as the commit status 'autograder/score' on GitHub "
        "(the same as the post-statuses command afterwards)",
    )
    add_github_arguments(parser, git_host_help="host that gets the token")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed to grade one student"
    )
    parser.add_argument("--workdir", help="keep the clones here (default: a temporary folder)")


def _check_options(args: argparse.Namespace, token: str | None) -> None:
    """Usage errors, found before anything is cloned or graded (RosterError)."""
    if args.collect and args.fetch_only:
        raise RosterError("--collect and --fetch-only exclude each other")
    if args.fetch_only and not args.clones:
        raise RosterError("--fetch-only needs --clones DIR (where to clone the repositories)")
    if args.fetch_only and args.post_status:
        raise RosterError("--fetch-only grades nothing: there is no status to post")
    if not args.fetch_only and not args.out:
        raise RosterError("--out DIR is required (the folder for the results)")
    if not args.collect and bool(args.roster) == bool(args.org):
        raise RosterError("give either a ROSTER.csv or --org (with --prefix), not both")
    if args.post_status and not token:
        raise RosterError(
            f"--post-status needs a GitHub token that may write commit statuses: the "
            f"environment variable {args.token_env} is empty or unset"
        )


def _org_roster(args: argparse.Namespace, token: str | None) -> list[RosterRow]:
    from autograder.github import api as github_api

    listed = github_api.list_org_repos(
        args.org, prefix=args.prefix, token=token, base_url=args.api_url
    )
    rows, warnings = roster_from_org(listed, org=args.org)
    for msg in warnings:
        print(f"grade-repos: warning: {msg}", file=sys.stderr)
    return rows


def run(args: argparse.Namespace) -> int:
    from autograder.authoring.release import ReleaseError
    from autograder.github.deadlines import LatePolicy
    from autograder.github.statuses import post_results, print_report

    token = os.environ.get(args.token_env) or None
    hosts = (args.git_host,)
    try:
        _check_options(args, token)
        policy = LatePolicy(days=args.late_days, penalty_percent=args.late_penalty)
        out = Path(args.out) if args.out else None
        if args.collect:
            assert out is not None
            if not out.is_dir():
                raise RosterError(f"--collect: {out} is not a folder of results")
            rows_data = load_results(out)
            summary = write_summary(out, files=rows_data)
            print(f"summarised {len(rows_data)} student(s) in {summary}")
        else:
            roster: Any = _org_roster(args, token) if args.org else args.roster
            if args.fetch_only:
                fetched = fetch_repos(
                    roster=roster,
                    clones_dir=args.clones,
                    shard=args.shard,
                    jobs=args.jobs,
                    token=token,
                    git_host=args.git_host,
                )
                print(
                    f"fetched {len(fetched.fetched)} repository(ies) into {fetched.clones_dir} "
                    f"in {fetched.seconds:.1f} s; {len(fetched.failed)} could not be fetched "
                    "(their rows get the error when graded)"
                )
                return 0
            assert out is not None
            batch = grade_repos(
                roster=roster,
                out_dir=out,
                deadline=args.deadline,
                jobs=args.jobs,
                shard=args.shard,
                token=token,
                git_host=args.git_host,
                isolation=args.isolation,
                clones=args.clones,
                grade_timeout=args.timeout,
                workdir=args.workdir,
                late_policy=policy,
                previous=args.previous,
                force=args.force,
                run_id=args.run_id,
            )
            n, kept = len(batch.rows), len(batch.reused)
            print(
                f"graded {n - kept} student(s), kept {kept} unchanged result(s), in "
                f"{batch.seconds:.1f} s ({args.jobs} job(s)); {len(batch.errors)} with errors; "
                f"summary: {batch.summary}"
            )
            rows_data = [r.to_json() for r in batch.rows]
    except (RosterError, ValueError, ReleaseError) as exc:
        print(f"grade-repos: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. summary.csv cannot be written; the JSON files are in place
        print(f"grade-repos: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from autograder.github import api as github_api  # only now: PyGithub is an optional extra

        if isinstance(exc, github_api.GitHubAPIError):  # --org: the listing failed
            print(f"grade-repos: {exc}", file=sys.stderr)
            return 2
        raise
    if args.post_status:
        report = post_results(
            rows_data, token=token, base_url=args.api_url, target_url=args.status_url, hosts=hosts
        )
        print_report(report, prog="grade-repos")
        if report.failures:
            return 1
    return 0
