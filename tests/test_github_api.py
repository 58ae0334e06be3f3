"""The GitHub API through PyGithub, against a local HTTP server replaying GitHub-shaped responses.

GitHub is not reachable from the test machines: ``FakeGitHub`` serves the JSON files of
``tests/fixtures/github/`` (hand-written after GitHub's documented response shapes, see the
README there) for the endpoints the autograder calls and records every request, so the tests
assert on what was sent (paths, query, token, body) as well as on what was parsed. A route can
also drop the connection without answering, or not answer at all (a timeout of the client).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from autograder.cli import main as cli_main
from autograder.github import api as github_api
from autograder.github import issues as gh_issues
from autograder.github import results_dir as gh_results_dir
from autograder.github import roster as gh_roster
from autograder.github import statuses as gh_statuses

FIXTURES = Path(__file__).parent / "fixtures" / "github"
ORG = "course-bngc-2026"
SHA = "4f2c3a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
TOKEN = "ghp_test_token_123"
DROP = -1  # route status: close the connection without an answer
HANG = -2  # route status: never answer (until the test ends)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    # (method, path) -> (status, fixture file or None, extra headers)
    routes: dict[tuple[str, str], tuple[int, str | None, dict[str, str]]] = field(
        default_factory=dict
    )
    done: threading.Event = field(default_factory=threading.Event)

    def fixture(self, name: str) -> bytes:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        return text.replace("https://api.github.com", self.url).encode()


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    state = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            key = (self.command, parts.path)
            page = parse_qs(parts.query).get("page", ["1"])[0]
            if (self.command, f"{parts.path}?page={page}") in state.routes:
                key = (self.command, f"{parts.path}?page={page}")
            status, name, headers = state.routes.get(key, (404, "not_found.json", {}))
            if status == DROP:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if status == HANG:
                state.done.wait(60)
                self.close_connection = True
                return
            body = state.fixture(name) if name else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v.replace("{url}", state.url))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _serve  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.done.set()
        server.shutdown()
        server.server_close()


def org_routes(gh: FakeGitHub) -> None:
    nxt = "{url}/organizations/190000001/repos?type=all&per_page=100&page=2"
    gh.routes[("GET", f"/orgs/{ORG}")] = (200, "org.json", {})
    gh.routes[("GET", f"/orgs/{ORG}/repos")] = (
        200,
        "org_repos_page1.json",
        {"Link": f'<{nxt}>; rel="next", <{nxt}>; rel="last"'},
    )
    gh.routes[("GET", "/organizations/190000001/repos?page=2")] = (
        200,
        "org_repos_page2.json",
        {"Link": '<{url}/organizations/190000001/repos?page=1>; rel="first"'},
    )


def test_list_org_repos_follows_pages_and_filters(fake_github: FakeGitHub) -> None:
    org_routes(fake_github)
    repos = github_api.list_org_repos(ORG, prefix="bngc-", token=TOKEN, base_url=fake_github.url)
    assert [r.student for r in repos] == ["alice", "bob", "carol"]  # no template, no archived
    assert repos[0].clone_url == f"https://github.com/{ORG}/bngc-alice.git"
    assert repos[0].full_name == f"{ORG}/bngc-alice"
    paths = [r.path for r in fake_github.requests]
    assert paths == [f"/orgs/{ORG}/repos", "/organizations/190000001/repos"]
    first = fake_github.requests[0]
    assert first.query["type"] == ["all"] and first.query["per_page"] == ["100"]
    assert all(TOKEN in r.headers.get("authorization", "") for r in fake_github.requests)


def test_list_org_repos_reports_api_errors(fake_github: FakeGitHub) -> None:
    with pytest.raises(github_api.GitHubAPIError, match="HTTP 404: Not Found"):
        github_api.list_org_repos("no-such-org", token=TOKEN, base_url=fake_github.url)


def test_post_commit_status_sends_one_request(fake_github: FakeGitHub) -> None:
    path = f"/repos/{ORG}/bngc-alice/statuses/{SHA}"
    fake_github.routes[("POST", path)] = (201, "status_created.json", {})
    github_api.post_commit_status(
        f"{ORG}/bngc-alice",
        SHA,
        state="success",
        description="Score 87/100" + "!" * 200,
        token=TOKEN,
        base_url=fake_github.url,
        target_url="https://example.org/scores/alice",
    )
    (req,) = fake_github.requests
    assert (req.method, req.path) == ("POST", path)
    assert req.body["state"] == "success"
    assert req.body["context"] == "autograder/score"
    assert req.body["target_url"] == "https://example.org/scores/alice"
    assert len(req.body["description"]) == 140
    assert TOKEN in req.headers["authorization"]


def test_post_commit_status_validates_and_reports(fake_github: FakeGitHub) -> None:
    with pytest.raises(ValueError, match="state"):
        github_api.post_commit_status(
            f"{ORG}/x", SHA, state="great", description="", token=TOKEN, base_url=fake_github.url
        )
    with pytest.raises(ValueError, match="SHA"):
        github_api.post_commit_status(
            f"{ORG}/x",
            "abc",
            state="success",
            description="",
            token=TOKEN,
            base_url=fake_github.url,
        )
    assert fake_github.requests == []
    with pytest.raises(github_api.GitHubAPIError, match=r"bngc-x@4f2c3a9 failed: HTTP 404"):
        github_api.post_commit_status(
            f"{ORG}/bngc-x",
            SHA,
            state="success",
            description="",
            token=TOKEN,
            base_url=fake_github.url,
        )


@pytest.mark.parametrize(
    ("url", "full_name"),
    [
        ("https://github.com/o/r.git", "o/r"),
        ("https://github.com/o/r", "o/r"),
        ("https://x-access-token:t@github.com/o/r.git", "o/r"),
        ("git@github.com:o/r.git", "o/r"),
        ("ssh://git@github.com/o/r.git", "o/r"),
        ("https://gitlab.com/o/r.git", None),
        ("/srv/repos/alice.git", None),
        ("https://github.com/o/r/extra", None),
    ],
)
def test_repo_full_name(url: str, full_name: str | None) -> None:
    assert github_api.repo_full_name(url) == full_name


INTERNAL = (
    "Traceback (most recent call last): File /work/grader/autograder/grading/checks/test_x.py"
)


def write_result(out: Path, student: str, repo: str, **fields: Any) -> None:
    data = {
        "score": 87.0,
        "max_score": 100.0,
        "execution_time": 12.0,
        "output": "",
        "tests": [],
        "extra_data": {"grading_status": "graded", "bonus_score": 0.0},
        "student": student,
        "repo": repo,
        "commit": SHA,
        "committed_at": "2026-10-31T10:00:00+00:00",
        "late": False,
        "tampered": [],
        "error": None,
        "grader_version": "1.0.0",
        "graded_at": "2026-11-01T12:30:00+00:00",
    }
    data.update(fields)
    (out / f"{student}.json").write_text(json.dumps(data), encoding="utf-8")


def test_collect_and_post_statuses(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("alice", "bob", "carol", "frank"):
        path = f"/repos/{ORG}/bngc-{name}/statuses/{SHA}"
        fake_github.routes[("POST", path)] = (201, "status_created.json", {})
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git")
    write_result(
        tmp_path,
        "bob",
        f"https://github.com/{ORG}/bngc-bob.git",
        score=0.0,
        error="could_not_grade: the module does not import",
        extra_data={"grading_status": "could_not_grade"},
        late=True,
        tampered=["tests/test_public.py"],
    )
    write_result(tmp_path, "carol", f"git@github.com:{ORG}/bngc-carol.git", score=100.0)
    write_result(
        tmp_path,
        "frank",
        f"https://github.com/{ORG}/bngc-frank.git",
        score=0.0,
        error=f"grader_error: the grader exited with status 1: {INTERNAL}",
        extra_data={"grading_status": "grader_error", "reason": INTERNAL},
    )
    write_result(tmp_path, "dave", "/srv/local/dave.git")  # not on GitHub: no status
    write_result(tmp_path, "erin", f"https://github.com/{ORG}/bngc-erin.git", commit=None)
    monkeypatch.setenv("CLASSROOM_TOKEN", TOKEN)
    code = cli_main(
        [
            *("grade-repos", "--out", str(tmp_path), "--collect", "--post-status"),
            *("--api-url", fake_github.url, "--status-url", "https://example.org/s/{student}"),
        ]
    )
    assert code == 0
    posted = {r.path.split("/")[3]: r.body for r in fake_github.requests}
    assert set(posted) == {"bngc-alice", "bngc-bob", "bngc-carol", "bngc-frank"}
    assert posted["bngc-alice"]["state"] == "failure"  # below full marks
    assert posted["bngc-alice"]["description"] == "Score 87/100"
    assert posted["bngc-alice"]["target_url"] == "https://example.org/s/alice"
    assert posted["bngc-bob"]["state"] == "error"  # not graded: the module does not import
    assert (
        posted["bngc-bob"]["description"]
        == (
            "Score 0/100; commits after the deadline not graded; protected files changed; "
            "could not grade: could_not_grade: the module does not import"
        )[:140]
    )
    assert posted["bngc-carol"]["state"] == "success"  # full marks
    assert posted["bngc-carol"]["description"] == "Score 100/100"
    # a grader error: a fixed note, none of the grader's own words
    assert posted["bngc-frank"]["state"] == "error"
    assert posted["bngc-frank"]["description"] == f"Score 0/100; {gh_statuses.GRADER_ERROR_NOTE}"
    assert (tmp_path / "summary.csv").read_text().count("\n") == 7


def test_failed_status_post_is_reported_not_fatal(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git")
    monkeypatch.setenv("CLASSROOM_TOKEN", TOKEN)
    code = cli_main(
        [
            *("grade-repos", "--out", str(tmp_path), "--collect", "--post-status"),
            *("--api-url", fake_github.url),
        ]
    )
    assert code == 1
    assert "alice: posting the status" in capsys.readouterr().err
    assert (tmp_path / "summary.csv").is_file()


def test_grade_repos_from_an_organisation(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--org lists the repositories; clones that fail (GitHub is unreachable) are error rows."""
    org_routes(fake_github)
    for name in ("org_repos_page1.json", "org_repos_page2.json"):
        text = (FIXTURES / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace("https://github.com/", "file:///nonexistent/"), encoding="utf-8"
        )
    monkeypatch.setattr(
        FakeGitHub, "fixture", lambda self, n: _rewrite(tmp_path, n, self.url), raising=True
    )
    out = tmp_path / "out"
    monkeypatch.setenv("CLASSROOM_TOKEN", TOKEN)
    code = cli_main(
        [
            *("grade-repos", "--org", ORG, "--prefix", "bngc-", "--out", str(out)),
            *("--api-url", fake_github.url, "--jobs", "2"),
        ]
    )
    assert code == 0
    rows = gh_results_dir.load_results(out)
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"]
    for r in rows:
        assert r["repo"] == f"file:///nonexistent/{ORG}/bngc-{r['student']}.git"
        assert r["error"].startswith("could not clone") and r["score"] == 0


def _rewrite(tmp: Path, name: str, url: str) -> bytes:
    src = tmp / name if (tmp / name).exists() else FIXTURES / name
    return src.read_text(encoding="utf-8").replace("https://api.github.com", url).encode()


def test_cli_needs_roster_or_org(tmp_path: Path, capsys) -> None:
    assert cli_main(["grade-repos", "--out", str(tmp_path)]) == 2
    assert "either a ROSTER.csv or --org" in capsys.readouterr().err


# ---------------------------------------------------------------------------- network failures


@pytest.mark.parametrize(
    ("status", "message"),
    [(DROP, "could not reach GitHub (ConnectionError"), (HANG, "no answer from GitHub in time")],
)
def test_list_org_repos_network_errors_are_clear(
    fake_github: FakeGitHub, status: int, message: str
) -> None:
    fake_github.routes[("GET", f"/orgs/{ORG}/repos")] = (status, None, {})
    with pytest.raises(github_api.GitHubAPIError) as info:
        github_api.list_org_repos(ORG, token=TOKEN, base_url=fake_github.url, timeout=1)
    assert str(info.value).startswith(f"listing the repositories of {ORG!r} failed: {message}")


def test_grade_repos_org_listing_dropped_is_a_usage_error(
    fake_github: FakeGitHub, tmp_path: Path, capsys
) -> None:
    fake_github.routes[("GET", f"/orgs/{ORG}/repos")] = (DROP, None, {})
    out = tmp_path / "out"
    code = cli_main(["grade-repos", "--org", ORG, "--out", str(out), "--api-url", fake_github.url])
    assert code == 2
    err = capsys.readouterr().err
    assert "grade-repos: listing the repositories" in err and "could not reach GitHub" in err
    assert "Traceback" not in err and not out.exists()


def test_odd_repository_names_are_skipped_with_a_warning(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A repository whose name cannot name a results file does not stop the class."""
    fake_github.routes[("GET", f"/orgs/{ORG}/repos")] = (200, "org_repos_odd_names.json", {})
    text = (FIXTURES / "org_repos_odd_names.json").read_text(encoding="utf-8")
    (tmp_path / "org_repos_odd_names.json").write_text(
        text.replace("https://github.com/", "file:///nonexistent/"), encoding="utf-8"
    )
    monkeypatch.setattr(FakeGitHub, "fixture", lambda self, n: _rewrite(tmp_path, n, self.url))
    out = tmp_path / "out"
    code = cli_main(
        [
            *("grade-repos", "--org", ORG, "--prefix", "bngc-", "--out", str(out)),
            *("--api-url", fake_github.url),
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert f"warning: skipping the repository {ORG}/bngc-.hidden of {ORG}: unsafe student " in err
    assert f"skipping the repository {ORG}/bngc-CON of {ORG}: unsafe student name 'CON'" in err
    assert [r["student"] for r in gh_results_dir.load_results(out)] == ["erin"]


def test_roster_from_org_skips_names_repeated_in_another_case() -> None:
    listed = [
        github_api.OrgRepo("bngc-Erin", f"{ORG}/bngc-Erin", "https://g/1.git", "Erin"),
        github_api.OrgRepo("bngc-erin", f"{ORG}/bngc-erin", "https://g/2.git", "erin"),
    ]
    rows, warnings = gh_roster.roster_from_org(listed)
    assert [r.student for r in rows] == ["Erin"]
    assert warnings == [
        f"skipping the repository {ORG}/bngc-erin: student 'erin' is also the student of "
        f"{ORG}/bngc-Erin"
    ]


def test_posting_goes_on_after_dropped_and_unanswered_requests(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    for name, status in (("alice", DROP), ("bob", 201), ("carol", HANG), ("dave", 201)):
        fake_github.routes[("POST", f"/repos/{ORG}/bngc-{name}/statuses/{SHA}")] = (
            status,
            "status_created.json" if status == 201 else None,
            {},
        )
        write_result(tmp_path, name, f"https://github.com/{ORG}/bngc-{name}.git")
    report = gh_statuses.post_statuses(
        results_dir=tmp_path, token=TOKEN, base_url=fake_github.url, timeout=1
    )
    by_student = {p.student: p for p in report.posts}
    assert [p.student for p in report.posts if p.posted] == ["bob", "dave"]
    assert by_student["alice"].error.startswith(
        f"posting the status of {ORG}/bngc-alice@4f2c3a9 failed: could not reach GitHub"
    )
    assert by_student["carol"].error == (
        f"posting the status of {ORG}/bngc-carol@4f2c3a9 failed: no answer from GitHub in time "
        "(ReadTimeout); try again later"
    )
    posted = [r.path.split("/")[3] for r in fake_github.requests]
    assert posted == ["bngc-alice", "bngc-bob", "bngc-carol", "bngc-dave"]


def test_post_statuses_command(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fake_github.routes[("POST", f"/repos/{ORG}/bngc-alice/statuses/{SHA}")] = (
        201,
        "status_created.json",
        {},
    )
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git")
    write_result(tmp_path, "bob", f"https://github.com/{ORG}/bngc-bob.git")  # 404
    write_result(tmp_path, "dave", "/srv/local/dave.git")
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    args = ["post-statuses", str(tmp_path), "--api-url", fake_github.url, "--token-env", "MY_TOKEN"]
    assert cli_main(args) == 1
    out, err = capsys.readouterr()
    assert "posted 1 commit status(es); 1 failed; 1 result(s) without a GitHub commit" in out
    assert f"post-statuses: commit status not posted: bob: posting the status of {ORG}" in err
    assert TOKEN in fake_github.requests[0].headers["authorization"]


def test_post_statuses_dry_run_needs_no_token(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git", late=True)
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    code = cli_main(["post-statuses", str(tmp_path), "--dry-run", "--api-url", fake_github.url])
    assert code == 0
    out = capsys.readouterr().out
    assert (
        f"would post failure on {ORG}/bngc-alice@4f2c3a9 (alice): "
        "Score 87/100; commits after the deadline not graded"
    ) in out
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the environment variable CLASSROOM_TOKEN is empty or unset"),
        (["--token-env", "NOPE"], "the environment variable NOPE is empty or unset"),
    ],
)
def test_post_statuses_without_a_token_fails_early(
    fake_github: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    args: list[str],
    message: str,
) -> None:
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git")
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    assert cli_main(["post-statuses", str(tmp_path), "--api-url", fake_github.url, *args]) == 2
    assert message in capsys.readouterr().err
    assert fake_github.requests == []
    with pytest.raises(gh_statuses.PostStatusError, match="no GitHub token"):
        gh_statuses.post_results([], token=None)


def test_post_statuses_of_a_missing_folder(tmp_path: Path, capsys) -> None:
    code = cli_main(["post-statuses", str(tmp_path / "nope"), "--dry-run"])
    assert code == 2
    assert "is not a folder of results" in capsys.readouterr().err


def test_grader_errors_never_reach_students_in_their_own_words() -> None:
    for data in (
        {"error": f"grader_error: the grader exited with status 1: {INTERNAL}"},
        {"error": "x", "extra_data": {"grading_status": "grader_error", "reason": INTERNAL}},
        {"error": "grader_error: internal error of grade-repos: KeyError('x')"},
    ):
        state, description = gh_statuses.status_of({"score": 0, "max_score": 100, **data})
        assert state == "error"
        assert description == f"Score 0/100; {gh_statuses.GRADER_ERROR_NOTE}"
    state, description = gh_statuses.status_of(
        {"score": 0, "max_score": 100, "error": "empty repository: nothing was ever pushed"}
    )
    assert (state, description) == (
        "error",
        "Score 0/100; could not grade: empty repository: nothing was ever pushed",
    )


# ------------------------------------------------------------------- feedback issues

BOT = "course-bot"  # the login of tests/fixtures/github/user.json
CHECKS = [
    {
        "name": "add_batchnorm: BatchNorm1d follows every hidden Linear",
        "number": "1.1",
        "score": 4.0,
        "max_score": 4.0,
        "status": "passed",
        "output": "",
        "tags": ["add_batchnorm"],
        "visibility": "visible",
    },
    {
        "name": "compute_grad_norm: total 2-norm of all gradients",
        "number": "2.1",
        "score": 0.0,
        "max_score": 96.0,
        "status": "failed",
        "output": "Expected: 3.5\nGot: 4.1 (@mallory ```)\nHint: one vector of all gradients",
        "tags": ["compute_grad_norm"],
        "visibility": "visible",
    },
]


def issue_routes(gh: FakeGitHub, repo: str, listing: str) -> None:
    gh.routes[("GET", "/user")] = (200, "user.json", {})
    gh.routes[("GET", f"/repos/{ORG}/{repo}/issues")] = (
        (410, listing, {}) if listing == "issues_disabled.json" else (200, listing, {})
    )


def requests_to(gh: FakeGitHub, method: str, path_part: str) -> list[Request]:
    return [r for r in gh.requests if r.method == method and path_part in r.path]


def test_post_feedback_opens_updates_comments_and_goes_on(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """alice: no issue yet (opened); bob: the bot's closed issue for a score of 46 (replaced,
    opened again, a comment for the new score); carol: issues turned off (her error, the batch
    goes on); dave: not on GitHub (skipped)."""
    issue_routes(fake_github, "bngc-alice", "issues_none.json")
    fake_github.routes[("POST", f"/repos/{ORG}/bngc-alice/issues")] = (
        201,
        "issue_created.json",
        {},
    )
    issue_routes(fake_github, "bngc-bob", "issues_existing.json")
    fake_github.routes[("PATCH", f"/repos/{ORG}/bngc-bob/issues/7")] = (
        200,
        "issue_updated.json",
        {},
    )
    fake_github.routes[("POST", f"/repos/{ORG}/bngc-bob/issues/7/comments")] = (
        201,
        "issue_comment_created.json",
        {},
    )
    issue_routes(fake_github, "bngc-carol", "issues_disabled.json")
    for name in ("alice", "bob", "carol"):
        write_result(tmp_path, name, f"https://github.com/{ORG}/bngc-{name}.git", tests=CHECKS)
    write_result(tmp_path, "dave", "/srv/local/dave.git", tests=CHECKS)
    monkeypatch.setenv("CLASSROOM_TOKEN", TOKEN)
    code = cli_main(["post-feedback", str(tmp_path), "--api-url", fake_github.url])
    out, err = capsys.readouterr()
    assert code == 1  # carol's could not be posted
    # alice: one issue opened, with the feedback under the hidden marker
    (listing,) = requests_to(fake_github, "GET", "/bngc-alice/issues")
    assert listing.query["state"] == ["all"] and listing.query["creator"] == [BOT]
    (opened,) = requests_to(fake_github, "POST", "/bngc-alice/issues")
    assert opened.body["title"] == "Autograder feedback"
    body = opened.body["body"]
    assert body.startswith(f"<!-- autograder-feedback commit={SHA} score=87 -->\n# Autograder")
    assert "**Score: 87/100**" in body and "| 2.1 | compute_grad_norm" in body
    assert "Expected: 3.5\nGot: 4.1 (@mallory ```)" in body  # in a fence of four backticks
    assert "````text\nExpected" in body
    # bob: the bot's issue #7 (not the student's #8, not the pull request #9) updated, reopened
    (patched,) = requests_to(fake_github, "PATCH", "/bngc-bob/issues/7")
    assert patched.body == {"body": body, "state": "open"}  # the same results: the same body
    (comment,) = requests_to(fake_github, "POST", "/bngc-bob/issues/7/comments")
    assert comment.body["body"].startswith("Your score changed from 46 to **87/100** with commit")
    assert not requests_to(fake_github, "PATCH", "/issues/8")
    # carol: a clear error of her own; dave: skipped
    assert (
        f"post-feedback: not posted: carol: listing the issues of {ORG}/bngc-carol failed: "
        "HTTP 410: Issues are disabled for this repo. Issues are turned off in "
        f"{ORG}/bngc-carol: turn them on"
    ) in err
    assert f"opened {ORG}/bngc-alice#1 (alice)" in out
    assert f"updated {ORG}/bngc-bob#7 (bob) (score changed: commented)" in out
    assert "opened 1, updated 1, left 0 unchanged feedback issue(s); 1 failed; 1 result(s)" in out
    assert all(TOKEN in r.headers["authorization"] for r in fake_github.requests)
    # where the issues are, for the commit statuses
    issues = json.loads((tmp_path / "feedback" / "issues.json").read_text())
    assert issues == {
        "alice": {"number": 1, "url": f"https://github.com/{ORG}/bngc-alice/issues/1"},
        "bob": {"number": 7, "url": f"https://github.com/{ORG}/bngc-bob/issues/7"},
    }
    posts, _ = gh_statuses.plan_statuses(
        gh_results_dir.load_results(tmp_path), issues=gh_issues.read_issues(tmp_path)
    )
    bob = next(p for p in posts if p.student == "bob")
    assert bob.description == "Score 87/100; feedback in issue #7"
    assert bob.target_url == f"https://github.com/{ORG}/bngc-bob/issues/7"


def test_an_unchanged_issue_is_left_alone(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same feedback again (no new commit): no write, no comment, no notification."""
    write_result(tmp_path, "bob", f"https://github.com/{ORG}/bngc-bob.git", tests=CHECKS)
    data = json.loads((tmp_path / "bob.json").read_text())
    listing = json.loads((FIXTURES / "issues_existing.json").read_text())
    for issue in listing:
        if issue["number"] == 7:
            issue.update(state="open", body=gh_issues.issue_body(data).replace("\n", "\r\n"))
    (tmp_path / "listing.json").write_text(json.dumps(listing))
    real = FakeGitHub.fixture
    monkeypatch.setattr(
        FakeGitHub,
        "fixture",
        lambda self, n: (
            (tmp_path / "listing.json").read_bytes() if n == "listing" else real(self, n)
        ),
    )
    fake_github.routes[("GET", "/user")] = (200, "user.json", {})
    fake_github.routes[("GET", f"/repos/{ORG}/bngc-bob/issues")] = (200, "listing", {})
    report = gh_issues.post_feedback(results_dir=tmp_path, token=TOKEN, base_url=fake_github.url)
    (post,) = report.posts
    assert (post.action, post.number, post.comment, post.error) == ("unchanged", 7, None, None)
    assert [r.method for r in fake_github.requests] == ["GET", "GET"]


def test_post_feedback_dry_run_prints_the_issues_without_a_token(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git", tests=CHECKS)
    write_result(tmp_path, "dave", "/srv/local/dave.git")
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    code = cli_main(["post-feedback", str(tmp_path), "--dry-run", "--api-url", fake_github.url])
    assert code == 0
    out = capsys.readouterr().out
    assert f"=== would post to {ORG}/bngc-alice (alice), issue 'Autograder feedback':" in out
    assert "**Score: 87/100**" in out and "### 2.1 compute_grad_norm" in out
    assert "would post 1 feedback issue(s); 1 result(s) not on GitHub skipped" in out
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no GitHub token"),
        (["--token-env", "NOPE"], "the environment variable NOPE is empty or unset"),
    ],
)
def test_post_feedback_usage_errors(
    fake_github: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    args: list[str],
    message: str,
) -> None:
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git")
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    assert cli_main(["post-feedback", str(tmp_path), "--api-url", fake_github.url, *args]) == 2
    assert message in capsys.readouterr().err
    assert cli_main(["post-feedback", str(tmp_path / "nope"), "--dry-run"]) == 2
    assert "is not a folder of results" in capsys.readouterr().err
    assert fake_github.requests == []


def test_status_states_follow_the_score() -> None:
    full = {"score": 100, "max_score": 100, "tests": CHECKS[:1]}
    full["tests"] = [dict(CHECKS[1], score=96.0, status="passed"), CHECKS[0]]
    assert gh_statuses.status_of(full)[0] == "success"
    late = dict(full, score=80.0, raw_score=100.0, penalty=20.0, late_days=2)
    assert gh_statuses.status_of(late) == ("failure", "Score 80/100 (100/100, -20 late)")
    assert gh_statuses.status_of({"score": 87, "max_score": 100, "tests": CHECKS})[0] == "failure"
    zero = {"score": 0, "max_score": 100, "tests": [dict(CHECKS[0], score=0.0, status="failed")]}
    assert gh_statuses.status_of(zero)[0] == "failure"  # graded, 0 points: a red cross


def test_posting_only_this_runs_gradings(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The workflow posts only what its run graded: results kept from earlier runs were posted
    when they were graded."""
    write_result(tmp_path, "alice", f"https://github.com/{ORG}/bngc-alice.git", run_id="42")
    write_result(tmp_path, "bob", f"https://github.com/{ORG}/bngc-bob.git", run_id="41")
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    for command in ("post-statuses", "post-feedback"):
        assert cli_main([command, str(tmp_path), "--dry-run", "--run-id", "42"]) == 0
        out = capsys.readouterr().out
        assert "(alice)" in out and "(bob)" not in out, command
    assert fake_github.requests == []
