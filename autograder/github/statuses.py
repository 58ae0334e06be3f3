"""Commit statuses: the score of each graded commit, as ``autograder/score`` on GitHub."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.github.feedback import GRADER_ERROR_NOTE, score_text
from autograder.github.options import DEFAULT_TOKEN_ENV
from autograder.github.results_dir import grading_status
from autograder.grading.gradescope import from_gradescope
from autograder.grading.results import COULD_NOT_GRADE, GRADER_ERROR


class PostStatusError(Exception):
    """The statuses cannot be posted at all (no token, no results); the message says why."""


def _full_marks(data: dict[str, Any]) -> bool:
    """Every point of the main checks earned (bonus aside) and no late penalty."""
    try:
        result = from_gradescope(data)
    except ValueError:
        result = None
    if result and result.tests:
        main = result.main_score
    else:
        main = float(data.get("score") or 0) - float(
            (data.get("extra_data") or {}).get("bonus_score") or 0
        )
    max_score = float(data.get("max_score") or 0)
    return max_score > 0 and main >= max_score and not float(data.get("penalty") or 0)


def status_of(data: dict[str, Any], *, issue: int | None = None) -> tuple[str, str]:
    """(state, description) of the commit status for one results file (at most 140 chars).

    ``success`` at full marks (the main checks, with no late penalty), ``failure`` below,
    ``error`` when the work was not graded: the repository or the submission could not be
    graded (the reason, the student's to fix, e.g. the exercise does not import), or the grader
    failed (a fixed note: no grader-internal text reaches students). ``issue`` is the number of
    the student's feedback issue, named after the score. The short flags come before the
    reason, which is cut first.
    """
    status = grading_status(data)
    parts = [f"Score {score_text(data, short=True)}"]
    if issue is not None:
        parts.append(f"feedback in issue #{issue}")
    if data.get("late") and not float(data.get("late_days") or 0):
        parts.append("commits after the deadline not graded")
    if data.get("tampered"):
        parts.append("protected files changed")
    if status == GRADER_ERROR:
        state = "error"
        parts.append(GRADER_ERROR_NOTE)
    elif status == COULD_NOT_GRADE:
        state = "error"
        reason = str(data.get("error") or (data.get("extra_data") or {}).get("reason") or "")
        parts.append(f"could not grade: {reason}")
    else:
        state = "success" if _full_marks(data) else "failure"
    return state, "; ".join(parts)[:140]


@dataclass
class StatusPost:
    """One commit status: where it goes, what it says, and whether it was posted."""

    student: str
    full_name: str
    commit: str
    state: str
    description: str
    target_url: str | None = None
    posted: bool = False
    error: str | None = None  # why it could not be posted


@dataclass
class PostReport:
    posts: list[StatusPost] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not on GitHub, or no graded commit
    dry_run: bool = False

    @property
    def failures(self) -> list[StatusPost]:
        return [p for p in self.posts if p.error]


def plan_statuses(
    results: Sequence[dict[str, Any]],
    *,
    target_url: str | None = None,
    hosts: tuple[str, ...] = ("github.com",),
    issues: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[StatusPost], list[str]]:
    """The statuses to post for ``results``, and the students that get none.

    ``issues`` (``issues.read_issues``) link each status to the student's feedback issue,
    unless ``target_url`` is given.
    """
    from autograder.github import api as github_api

    posts, skipped = [], []
    for data in results:
        student = str(data.get("student", ""))
        full_name = github_api.repo_full_name(str(data.get("repo") or ""), hosts=hosts)
        commit = data.get("commit")
        if not full_name or not commit:
            skipped.append(student)
            continue
        issue = (issues or {}).get(student) or {}
        state, description = status_of(data, issue=issue.get("number"))
        url = target_url.replace("{student}", student) if target_url else issue.get("url")
        posts.append(StatusPost(student, full_name, str(commit), state, description, url))
    return posts, skipped


def post_results(
    results: Sequence[dict[str, Any]],
    *,
    token: str | None,
    base_url: str | None = None,
    target_url: str | None = None,
    hosts: tuple[str, ...] = ("github.com",),
    dry_run: bool = False,
    timeout: int | None = None,
    issues: dict[str, dict[str, Any]] | None = None,
) -> PostReport:
    """Post the status of every result on GitHub; a failure is noted and the rest still posted.

    Raises PostStatusError without a token (unless ``dry_run``), before any request.
    """
    from autograder.github import api as github_api

    if not token and not dry_run:
        raise PostStatusError(
            f"no GitHub token: set {DEFAULT_TOKEN_ENV} (or the variable named by --token-env) "
            "to a token that may write commit statuses, or use --dry-run"
        )
    posts, skipped = plan_statuses(results, target_url=target_url, hosts=hosts, issues=issues)
    report = PostReport(posts=posts, skipped=skipped, dry_run=dry_run)
    if dry_run or not posts:
        return report
    timeout = github_api.DEFAULT_TIMEOUT if timeout is None else timeout
    gh = github_api.client(token, base_url=base_url, timeout=timeout)
    for post in posts:
        try:
            github_api.post_commit_status(
                post.full_name,
                post.commit,
                state=post.state,
                description=post.description,
                target_url=post.target_url,
                gh=gh,
            )
        except (github_api.GitHubAPIError, ValueError) as exc:
            post.error = str(exc)
        else:
            post.posted = True
    return report


def post_statuses(
    *,
    results_dir: str | os.PathLike,
    token: str | None,
    base_url: str | None = None,
    target_url: str | None = None,
    hosts: tuple[str, ...] = ("github.com",),
    dry_run: bool = False,
    timeout: int | None = None,
    run_id: str | None = None,
) -> PostReport:
    """Post the statuses of every ``<student>.json`` in ``results_dir`` (see ``post_results``),
    linked to the feedback issues that ``post-feedback`` recorded there; with ``run_id``, only
    of the results that grading run produced."""
    from autograder.github.issues import read_issues
    from autograder.github.results_dir import load_results

    folder = Path(results_dir)
    if not folder.is_dir():
        raise PostStatusError(f"{folder} is not a folder of results (grade-repos --out DIR)")
    return post_results(
        [r for r in load_results(folder) if run_id is None or r.get("run_id") == run_id],
        token=token,
        base_url=base_url,
        target_url=target_url,
        hosts=hosts,
        dry_run=dry_run,
        timeout=timeout,
        issues=read_issues(folder),
    )


def print_report(report: PostReport, *, prog: str = "post-statuses") -> None:
    """One line per status (stdout), one per failure (stderr), and a count."""
    for post in report.posts:
        if report.dry_run:
            print(
                f"would post {post.state} on {post.full_name}@{post.commit[:7]} "
                f"({post.student}): {post.description}"
            )
        elif post.error:
            print(
                f"{prog}: commit status not posted: {post.student}: {post.error}", file=sys.stderr
            )
    done = sum(p.posted for p in report.posts)
    verb = "would post" if report.dry_run else "posted"
    print(
        f"{verb} {len(report.posts) if report.dry_run else done} commit status(es); "
        f"{len(report.failures)} failed; {len(report.skipped)} result(s) without a GitHub "
        "commit skipped"
    )
