"""The student's "Autograder feedback" issue: opened once, kept up to date.

For each results file of a GitHub repository, the issue titled ``TITLE`` that the token's account
opened in the student's repository is looked up: none yet, it is opened with the feedback
(``DIR/feedback/<student>.md``, rendered again from the JSON); one whose body differs (a new commit
was graded, or the feedback changed), its body is replaced and it is opened again if the student
had closed it; and when the score changed a comment says so, which notifies the student (editing
a body notifies no one). The body starts with a hidden line, ``<!-- autograder-feedback
commit=SHA score=S -->``, from which the previous score is read.

A repository whose issues are disabled (HTTP 410), or any other failure, is that student's error;
the others are still posted. Where each issue is goes to ``DIR/feedback/issues.json`` (student ->
number and URL), which ``post-statuses`` links from the commit status.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.files import write_json_atomic
from autograder.github.feedback import FEEDBACK_DIR, TITLE, render_feedback, score_text
from autograder.github.options import DEFAULT_TOKEN_ENV

ISSUES_FILE = "issues.json"  # in DIR/feedback/
_MARKER = re.compile(r"<!-- autograder-feedback commit=([0-9a-f]*) score=([0-9.eE+-]+) -->")


class PostFeedbackError(Exception):
    """The feedback cannot be posted at all (no token, no results); the message says why."""


def issue_body(data: dict[str, Any]) -> str:
    """The issue's body: the hidden marker line, then the feedback."""
    commit = str(data.get("commit") or "")
    commit = commit if re.fullmatch(r"[0-9a-f]{40}", commit) else ""
    score = float(data.get("score") or 0.0)
    return f"<!-- autograder-feedback commit={commit} score={score:g} -->\n" + render_feedback(data)


def previous_score(body: str) -> float | None:
    """The score an issue's body was written for (None: no marker, e.g. edited away)."""
    found = _MARKER.search(body)
    try:
        return float(found.group(2)) if found else None
    except ValueError:
        return None


def score_comment(data: dict[str, Any], old: float) -> str:
    commit = str(data.get("commit") or "")[:7]
    return (
        f"Your score changed from {old:g} to **{score_text(data)}**"
        + (f" with commit {commit}" if commit else "")
        + ". The description above has the details."
    )


@dataclass
class FeedbackPost:
    """One student's issue: where, what, and what became of it."""

    student: str
    full_name: str
    body: str
    data: dict[str, Any]
    action: str = ""  # opened | updated | unchanged (after posting)
    comment: str | None = None  # posted because the score changed
    number: int | None = None
    url: str | None = None
    error: str | None = None


@dataclass
class FeedbackReport:
    posts: list[FeedbackPost] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not on GitHub
    dry_run: bool = False

    @property
    def failures(self) -> list[FeedbackPost]:
        return [p for p in self.posts if p.error]


def plan_feedback(
    results: Sequence[dict[str, Any]], *, hosts: tuple[str, ...] = ("github.com",)
) -> tuple[list[FeedbackPost], list[str]]:
    """The issues to post for ``results``, and the students whose repository is not on GitHub."""
    from autograder.github import api as github_api

    posts, skipped = [], []
    for data in results:
        student = str(data.get("student", ""))
        full_name = github_api.repo_full_name(str(data.get("repo") or ""), hosts=hosts)
        if not full_name:
            skipped.append(student)
            continue
        posts.append(FeedbackPost(student, full_name, issue_body(data), data))
    return posts, skipped


def _post_one(post: FeedbackPost, *, login: str, gh: Any) -> None:
    from autograder.github import api as github_api

    existing = github_api.find_issue(post.full_name, title=TITLE, creator=login, gh=gh)
    if existing is None:
        issue = github_api.open_issue(post.full_name, title=TITLE, body=post.body, gh=gh)
        post.action, post.number, post.url = "opened", issue.number, issue.url
        return
    post.number, post.url = existing.number, existing.url
    if existing.body.replace("\r\n", "\n") == post.body and existing.state == "open":
        post.action = "unchanged"
        return
    github_api.update_issue(existing, body=post.body)
    post.action = "updated"
    old = previous_score(existing.body)
    new = float(post.data.get("score") or 0.0)
    if old is not None and old != new:
        post.comment = score_comment(post.data, old)
        github_api.comment_on_issue(existing, body=post.comment)


def _why(exc: Exception, full_name: str) -> str:
    text = str(exc)
    if "HTTP 410" in text:
        return (
            f"{text}. Issues are turned off in {full_name}: turn them on (Settings > General > "
            "Features > Issues) or give the student the file feedback/<student>.md"
        )
    return text


def post_feedback(
    *,
    results_dir: str | Path,
    token: str | None,
    base_url: str | None = None,
    hosts: tuple[str, ...] = ("github.com",),
    dry_run: bool = False,
    timeout: int | None = None,
    run_id: str | None = None,
) -> FeedbackReport:
    """Post the feedback issue of every ``<student>.json`` in ``results_dir`` (with ``run_id``,
    only of the results that grading run produced: the others have not changed).

    Raises PostFeedbackError without a token (unless ``dry_run``) or results folder, before any
    request. A failure for one student is noted in their post; the others are still posted.
    """
    from autograder.github import api as github_api
    from autograder.github.results_dir import load_results

    folder = Path(results_dir)
    if not folder.is_dir():
        raise PostFeedbackError(f"{folder} is not a folder of results (grade-repos --out DIR)")
    if not token and not dry_run:
        raise PostFeedbackError(
            f"no GitHub token: set {DEFAULT_TOKEN_ENV} (or the variable named by --token-env) "
            "to a token that may write issues, or use --dry-run"
        )
    results = [r for r in load_results(folder) if run_id is None or r.get("run_id") == run_id]
    posts, skipped = plan_feedback(results, hosts=hosts)
    report = FeedbackReport(posts=posts, skipped=skipped, dry_run=dry_run)
    if dry_run or not posts:
        return report
    timeout = github_api.DEFAULT_TIMEOUT if timeout is None else timeout
    gh = github_api.client(token, base_url=base_url, timeout=timeout)
    login = github_api.current_login(gh)
    for post in posts:
        try:
            _post_one(post, login=login, gh=gh)
        except github_api.GitHubAPIError as exc:
            post.error = _why(exc, post.full_name)
    record_issues(folder, [p for p in posts if p.number is not None])
    return report


def record_issues(folder: Path, posts: Sequence[FeedbackPost]) -> Path:
    """Add where each student's issue is to ``feedback/issues.json`` (kept across runs)."""
    path = folder / FEEDBACK_DIR / ISSUES_FILE
    known = read_issues(folder)
    for post in posts:
        known[post.student] = {"number": post.number, "url": post.url}
    return write_json_atomic(dict(sorted(known.items())), path)


def read_issues(folder: Path) -> dict[str, dict[str, Any]]:
    """``feedback/issues.json`` (student -> ``number`` and ``url``); empty when absent or broken."""
    try:
        data = json.loads((folder / FEEDBACK_DIR / ISSUES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): v
        for k, v in data.items()
        if isinstance(v, dict)
        and isinstance(v.get("number"), int)
        and isinstance(v.get("url"), str)
    }


def print_report(report: FeedbackReport) -> None:
    """With --dry-run each body; else one line per issue (stdout), per failure (stderr); a count."""
    for post in report.posts:
        if report.dry_run:
            print(f"=== would post to {post.full_name} ({post.student}), issue {TITLE!r}:")
            print(post.body)
        elif post.error:
            print(f"post-feedback: not posted: {post.student}: {post.error}", file=sys.stderr)
        else:
            extra = " (score changed: commented)" if post.comment else ""
            print(f"{post.action} {post.full_name}#{post.number} ({post.student}){extra}")
    if report.dry_run:
        print(
            f"would post {len(report.posts)} feedback issue(s); {len(report.skipped)} result(s) "
            "not on GitHub skipped"
        )
        return
    counts = {
        a: sum(p.action == a and not p.error for p in report.posts)
        for a in ("opened", "updated", "unchanged")
    }
    print(
        f"opened {counts['opened']}, updated {counts['updated']}, left {counts['unchanged']} "
        f"unchanged feedback issue(s); {len(report.failures)} failed; {len(report.skipped)} "
        "result(s) not on GitHub skipped"
    )
