"""The GitHub API through PyGithub, against a local HTTP server replaying GitHub-shaped responses.

GitHub is not reachable from the test machines: ``FakeGitHub`` serves the JSON files of
``tests/fixtures/github/`` for the endpoints the autograder calls and records every request, so
the tests assert on what was sent (paths, query, token, body) as well as on what was parsed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from autograder import github_api
from autograder import grade_repos as gr
from autograder.cli import main as cli_main

FIXTURES = Path(__file__).parent / "fixtures" / "github"
ORG = "course-bngc-2026"
SHA = "4f2c3a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
TOKEN = "ghp_test_token_123"


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
    for name in ("alice", "bob", "carol"):
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
    assert set(posted) == {"bngc-alice", "bngc-bob", "bngc-carol"}
    assert posted["bngc-alice"]["state"] == "success"
    assert posted["bngc-alice"]["description"] == "Score 87/100"
    assert posted["bngc-alice"]["target_url"] == "https://example.org/s/alice"
    assert posted["bngc-bob"]["state"] == "failure"
    assert (
        posted["bngc-bob"]["description"]
        == (
            "Score 0/100; commits after the deadline not graded; protected files changed; "
            "could not grade: could_not_grade: the module does not import"
        )[:140]
    )
    assert posted["bngc-carol"]["description"] == "Score 100/100"
    assert (tmp_path / "summary.csv").read_text().count("\n") == 6


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
    rows = gr.load_results(out)
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
