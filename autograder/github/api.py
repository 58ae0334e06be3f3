"""The GitHub REST API through PyGithub: list a course organisation's repositories, post scores.

Three uses, all optional for ``grade-repos``:

* ``list_org_repos``: the repositories of an organisation whose names start with a prefix
  (``bngc-alice``, ``bngc-bob``, ... as GitHub Classroom named them), as an alternative to a roster;
* ``post_commit_status``: the score as a commit status (context ``autograder/score``) on the
  commit that was graded, which the student sees next to the commit on GitHub;
* ``find_issue``, ``open_issue``, ``update_issue``, ``comment_on_issue``: the student's
  "Autograder feedback" issue (``github.issues``).

``base_url`` points at another API server (GitHub Enterprise ``https://HOST/api/v3``, or the local
server of the tests). The token needs read access to the repositories' contents, write access to
commit statuses and to issues; it comes from the instructor's repository secrets, never from a
student's.
Every failure (an HTTP error from GitHub, or the network: refused or dropped connections,
timeouts) is a GitHubAPIError whose message names the call and what went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_TIMEOUT = 30  # seconds per request (PyGithub wants an int)
STATUS_CONTEXT = "autograder/score"
STATUS_STATES = ("error", "failure", "pending", "success")
_NAME = r"[A-Za-z0-9_.-]+"


class GitHubAPIError(Exception):
    """A GitHub API call failed; the message names the call and GitHub's answer."""


@dataclass(frozen=True)
class OrgRepo:
    """One repository of the organisation and the student it belongs to."""

    name: str
    full_name: str
    clone_url: str
    student: str
    archived: bool = False


def client(
    token: str | None, *, base_url: str | None = None, timeout: int = DEFAULT_TIMEOUT
) -> Github:
    """A PyGithub client; ``lazy`` so that posting a status is a single request."""
    auth = Auth.Token(token) if token else None
    return Github(
        auth=auth,
        base_url=(base_url or DEFAULT_API_URL).rstrip("/"),
        per_page=100,
        lazy=True,
        timeout=timeout,
        retry=None,
    )


def repo_full_name(url: str, *, hosts: tuple[str, ...] = ("github.com",)) -> str | None:
    """``owner/name`` of a GitHub clone URL (https or ssh), ``None`` for anything else.

    >>> repo_full_name("https://github.com/course/bngc-alice.git")
    'course/bngc-alice'
    >>> repo_full_name("git@github.com:course/bngc-alice.git")
    'course/bngc-alice'
    """
    url = url.strip()
    m = re.fullmatch(rf"[\w.-]+@([\w.-]+):({_NAME})/({_NAME}?)(?:\.git)?/?", url)
    if m:
        host, owner, name = m.groups()
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host = parts.hostname
        m = re.fullmatch(rf"/({_NAME})/({_NAME}?)(?:\.git)?/?", parts.path)
        if not m:
            return None
        owner, name = m.groups()
    if host.lower() not in {h.lower() for h in hosts}:
        return None
    return f"{owner}/{name}"


def list_org_repos(
    org: str,
    *,
    prefix: str = "",
    token: str | None = None,
    base_url: str | None = None,
    include_archived: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
) -> list[OrgRepo]:
    """Repositories of ``org`` whose name starts with ``prefix``, sorted by name.

    The student is the name without the prefix (``bngc-alice`` -> ``alice``); template
    repositories (and a repository named like the prefix without its separator) are skipped.
    """
    gh = client(token, base_url=base_url, timeout=timeout)
    found = []
    try:
        # the attributes are read inside the try: a lazy attribute can mean one more request
        for repo in gh.get_organization(org).get_repos(type="all"):
            if not repo.name.startswith(prefix) or repo.name == prefix.rstrip("-_"):
                continue
            if repo.is_template:
                continue  # the template students start from
            student = repo.name[len(prefix) :]
            if not student or (repo.archived and not include_archived):
                continue
            found.append(
                OrgRepo(
                    name=repo.name,
                    full_name=repo.full_name,
                    clone_url=repo.clone_url,
                    student=student,
                    archived=bool(repo.archived),
                )
            )
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(
            f"listing the repositories of {org!r} failed: {_describe(exc)}"
        ) from exc
    return sorted(found, key=lambda r: r.name)


def post_commit_status(
    full_name: str,
    sha: str,
    *,
    state: str,
    description: str,
    token: str | None = None,
    base_url: str | None = None,
    context: str = STATUS_CONTEXT,
    target_url: str | None = None,
    gh: Github | None = None,
) -> None:
    """Create a commit status on ``full_name``@``sha`` (description cut to GitHub's 140).

    Pass one client ``gh`` for many statuses: PyGithub then spaces the writes out as GitHub's
    secondary rate limits ask (one second apart). Without ``gh``, a client of its own is made
    from ``token`` and ``base_url`` (which are not used when ``gh`` is given).
    """
    if state not in STATUS_STATES:
        raise ValueError(f"state must be one of {STATUS_STATES}, not {state!r}")
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ValueError(f"not a full commit SHA: {sha!r}")
    gh = gh or client(token, base_url=base_url)
    kwargs = {"state": state, "description": description[:140], "context": context}
    if target_url:
        kwargs["target_url"] = target_url
    try:
        gh.get_repo(full_name).get_commit(sha).create_status(**kwargs)
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(
            f"posting the status of {full_name}@{sha[:7]} failed: {_describe(exc)}"
        ) from exc


@dataclass(frozen=True)
class IssueRef:
    """An issue as the feedback poster needs it (``handle``: PyGithub's object, to change it)."""

    full_name: str
    number: int
    url: str  # the page on GitHub (html_url)
    body: str
    state: str  # open | closed
    handle: Any = field(default=None, compare=False, repr=False)


def _issue_ref(full_name: str, issue: Any) -> IssueRef:
    return IssueRef(
        full_name,
        int(issue.number),
        str(issue.html_url),
        str(issue.body or ""),
        str(issue.state),
        issue,
    )


def current_login(gh: Github) -> str:
    """The login of the token's account (issues it opened are the feedback issues)."""
    try:
        return str(gh.get_user().login)
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(f"finding the token's account failed: {_describe(exc)}") from exc


def find_issue(full_name: str, *, title: str, creator: str, gh: Github) -> IssueRef | None:
    """The first issue (open or closed, not a pull request) titled ``title`` that ``creator``
    opened in ``full_name``; None when there is none. The creator is checked here too, not only
    by GitHub's filter: an issue a student opened with that title is never taken for it."""
    try:
        repo = gh.get_repo(full_name)
        for issue in repo.get_issues(state="all", creator=gh.get_user(creator, lazy=True)):
            mine = issue.user is not None and issue.user.login == creator
            # a pull request's page is .../pull/N (its "pull_request" member, absent from an
            # issue, would cost PyGithub one request per issue to find absent)
            pull = "/pull/" in str(issue.html_url)
            if mine and not pull and issue.title == title:
                return _issue_ref(full_name, issue)
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(f"listing the issues of {full_name} failed: {_describe(exc)}") from exc
    return None


def open_issue(full_name: str, *, title: str, body: str, gh: Github) -> IssueRef:
    try:
        return _issue_ref(full_name, gh.get_repo(full_name).create_issue(title=title, body=body))
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(f"opening an issue in {full_name} failed: {_describe(exc)}") from exc


def update_issue(issue: IssueRef, *, body: str) -> None:
    """Replace the body of ``issue`` and open it again if it was closed."""
    try:
        issue.handle.edit(body=body, state="open")
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(
            f"updating issue #{issue.number} of {issue.full_name} failed: {_describe(exc)}"
        ) from exc


def comment_on_issue(issue: IssueRef, *, body: str) -> None:
    try:
        issue.handle.create_comment(body)
    except (GithubException, requests.RequestException) as exc:
        raise GitHubAPIError(
            f"commenting on issue #{issue.number} of {issue.full_name} failed: {_describe(exc)}"
        ) from exc


def _describe(exc: GithubException | requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer from GitHub in time ({type(exc).__name__}); try again later"
    if isinstance(exc, requests.ConnectionError):
        return f"could not reach GitHub ({type(exc).__name__}: {_first_line(exc)})"
    if isinstance(exc, requests.RequestException):
        return f"the request failed ({type(exc).__name__}: {_first_line(exc)})"
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    return f"HTTP {exc.status}" + (f": {message}" if message else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no details"
