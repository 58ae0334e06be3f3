"""``python -m autograder grade-repos ROSTER.csv --out DIR``: grade every student repository.

For each roster row (columns ``student,repo``; ``repo`` is a git URL or a local path, relative to
the roster's folder) this clones the repository, picks the last commit at or before the deadline
(committer date; later commits make the row *late*), compares the protected files with the
manifest of the current release (any change is reported as tampering and undone), grades the
exercise with ``python -m autograder grade`` in a subprocess of its own, and writes
``DIR/<student>.json``: the results JSON plus ``student, repo, commit, committed_at, late,
tampered, error, grader_version, graded_at``. ``DIR/summary.csv`` has one row per JSON file in DIR.

A row that cannot be graded (no repository, clone failure, empty repository, no exercise file,
no commit before the deadline, grader failure) is written with score 0 and ``error`` set; it never
stops the batch. Students are graded in parallel (``--jobs``), and a large class can be split
over several machines (``--shard K/N``) whose result folders are merged and summarised with
``--collect``. ``--post-status`` posts each score to GitHub as a commit status.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from autograder import __version__
from autograder.formats import write_json_atomic
from autograder.manifest import Manifest, restore
from autograder.paths import EXERCISE_FILE, REPO_ROOT

DEFAULT_MAX_SCORE = 100.0  # the grader's max_score, for rows that could not be graded
SUMMARY_FILE = "summary.csv"
SUMMARY_COLUMNS = (
    "student",
    "repo",
    "commit",
    "committed_at",
    "score",
    "max_score",
    "late",
    "tampered",
    "error",
    "bonus_score",
    "grading_status",
    "grader_version",
    "graded_at",
)
STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# names Windows refuses for files (results are often downloaded there)
_RESERVED_NAMES = {"con", "prn", "aux", "nul"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in range(10)
}
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$|^GH_|^GITHUB_")
DEFAULT_TOKEN_ENV = "CLASSROOM_TOKEN"


class RosterError(Exception):
    """The roster cannot be used; the message lists every problem with its line number."""


class RepoError(Exception):
    """This student's repository cannot be graded; the message says why (for the summary)."""


# ---------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class RosterRow:
    student: str
    repo: str  # as written in the roster (URL or path)
    line: int = 0  # line in the roster file, for messages
    source: str = ""  # what git clones: the URL, or the absolute local path

    @property
    def display_repo(self) -> str:
        return redact_url(self.repo)


def _is_url(repo: str) -> bool:
    return "://" in repo or bool(re.match(r"^[\w.-]+@[\w.-]+:", repo))


def parse_roster(text: str, *, base_dir: Path = Path(), name: str = "roster") -> list[RosterRow]:
    """Rows of a roster CSV (header ``student,repo``, more columns allowed, in any order).

    Blank lines and rows whose student starts with ``#`` are skipped. Raises RosterError listing
    every problem: missing columns, empty or unsafe student names, duplicate students (ignoring
    case, as file names on some systems do). A row without a repository is kept: it becomes a
    row with an error in the results, so that the student still appears.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("student", "repo") if c not in header]
    if missing:
        raise RosterError(
            f"{name}: missing column(s) {', '.join(missing)}; the first line must be a header "
            f"with at least 'student,repo' (found: {','.join(header) or 'nothing'})"
        )
    reader.fieldnames = header
    rows: list[RosterRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        student = (record.get("student") or "").strip()
        repo = (record.get("repo") or "").strip()
        if not student and not repo and not any((v or "").strip() for v in record.values()):
            continue
        if student.startswith("#"):
            continue
        if not student:
            problems.append(f"line {line}: empty student name")
            continue
        reserved = student.split(".")[0].lower() in _RESERVED_NAMES
        if not STUDENT_NAME.fullmatch(student) or student.endswith(".") or reserved:
            problems.append(
                f"line {line}: unsafe student name {student!r}: use letters, digits, '.', '_' "
                "and '-' only (at most 100, starting with a letter or digit); it names the "
                "results file"
            )
            continue
        key = student.lower()
        if key in seen:
            problems.append(
                f"line {line}: duplicate student {student!r} (first on line {seen[key]})"
            )
            continue
        seen[key] = line
        source = repo
        if repo and not _is_url(repo):
            source = str((base_dir / Path(repo).expanduser()).resolve())
        rows.append(RosterRow(student=student, repo=repo, line=line, source=source))
    if problems:
        raise RosterError(f"{name}: " + "; ".join(problems))
    return rows


def read_roster(path: str | os.PathLike) -> list[RosterRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from exc
    return parse_roster(text, base_dir=path.parent.resolve(), name=str(path))


def select_shard(rows: Sequence[RosterRow], shard: str | None) -> list[RosterRow]:
    """The rows of shard ``K/N`` (1 <= K <= N): every N-th row of the roster starting at K."""
    if not shard:
        return list(rows)
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise RosterError(f"--shard must be K/N with 1 <= K <= N, not {shard!r}")
    k, n = int(m.group(1)), int(m.group(2))
    return [row for i, row in enumerate(rows) if i % n == k - 1]


def redact_url(url: str) -> str:
    """The URL without credentials (``https://user:token@host/x`` -> ``https://host/x``)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------------------- one student


@dataclass
class RepoResult:
    """The outcome for one student: where the grade came from and the results JSON."""

    student: str
    repo: str
    results: dict[str, Any]
    commit: str | None = None
    committed_at: str | None = None
    late: bool = False
    tampered: list[str] = field(default_factory=list)
    error: str | None = None
    grader_version: str = __version__
    graded_at: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(self.results.get("score", 0.0))

    @property
    def max_score(self) -> float:
        return float(self.results.get("max_score", DEFAULT_MAX_SCORE))

    @property
    def grading_status(self) -> str:
        return str((self.results.get("extra_data") or {}).get("grading_status", "graded"))

    def to_json(self) -> dict[str, Any]:
        data = dict(self.results)
        extra = dict(data.get("extra_data") or {})
        extra["grade_repos"] = self.details
        data["extra_data"] = extra
        data.update(
            student=self.student,
            repo=self.repo,
            commit=self.commit,
            committed_at=self.committed_at,
            late=self.late,
            tampered=list(self.tampered),
            error=self.error,
            grader_version=self.grader_version,
            graded_at=self.graded_at,
        )
        return data


def could_not_grade_results(
    message: str, *, status: str = "could_not_grade", max_score: float = DEFAULT_MAX_SCORE
) -> dict[str, Any]:
    """A results JSON with score 0 and one failed integrity test that says why."""
    return {
        "score": 0.0,
        "max_score": max_score,
        "execution_time": 0.0,
        "output": f"Could not grade your repository: {message}\nScore: 0/{max_score:g}",
        "tests": [
            {
                "name": "Could not grade the repository",
                "number": "0.1",
                "score": 0.0,
                "max_score": max_score,
                "status": "failed",
                "output": message,
                "tags": ["integrity"],
                "visibility": "visible",
            }
        ],
        "extra_data": {"grading_status": status, "reason": message, "grader_version": __version__},
    }


def parse_deadline(text: str) -> datetime:
    """An ISO-8601 date/time; without a time zone it is taken as UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"not an ISO-8601 date/time: {text!r} (e.g. 2026-12-01T23:59:00+01:00)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Grader:
    """Everything one batch shares: deadline, the release's protected files, how to grade."""

    manifest: Manifest
    originals: dict[str, bytes]
    deadline: datetime | None = None
    grader_command: Sequence[str] = (sys.executable, "-m", "autograder", "grade")
    grade_timeout: float = 1800.0
    git_timeout: float = 600.0
    token: str | None = None
    git_host: str = "github.com"

    # -- processes

    def git_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GIT_") or k in ("GIT_SSH_COMMAND", "GIT_SSH")
        }
        env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", GCM_INTERACTIVE="never")
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        if self.token:
            # as actions/checkout does: an HTTP header scoped to the host, never in the URL
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0=f"http.https://{self.git_host}/.extraheader",
                GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
            )
        return env

    def grader_env(self) -> dict[str, str]:
        """The environment of the grader: no token or secret reaches student code."""
        return {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k.upper())}

    def git(self, args: list[str], cwd: Path | None = None) -> str:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self.git_env(),
                capture_output=True,
                text=True,
                timeout=self.git_timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise RepoError(f"git {args[0]} timed out after {self.git_timeout:g} s") from exc
        if proc.returncode != 0:
            raise RepoError(self._clean(proc.stderr) or f"git {args[0]} failed")
        return proc.stdout

    def _clean(self, text: str) -> str:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else ""
        if self.token:
            msg = msg.replace(self.token, "***")
        return re.sub(r"://[^/@\s]+@", "://", msg)

    # -- steps

    def fetch(self, row: RosterRow, dest: Path) -> None:
        """Clone the repository without checking anything out (links become plain files)."""
        if not row.repo:
            raise RepoError("no repository in the roster for this student")
        if not _is_url(row.repo) and not Path(row.source).exists():
            raise RepoError(f"repository not found: {row.display_repo}")
        try:
            self.git(
                [
                    "-c", "core.symlinks=false",
                    "-c", "core.autocrlf=false",
                    "-c", "protocol.file.allow=always",
                    "clone", "--quiet", "--no-checkout", "--no-hardlinks",
                    "--config", "core.symlinks=false",
                    "--", row.source, str(dest),
                ]
            )  # fmt: skip
        except RepoError as exc:
            raise RepoError(f"could not clone {row.display_repo}: {exc}") from exc

    def pick_commit(self, repo: Path) -> tuple[str, int, str, list[str], str]:
        """(sha, committer time, committed_at ISO, late shas, head sha) of the commit to grade."""
        try:
            head = self.git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo).strip()
        except RepoError:
            head = ""
        if not head:
            raise RepoError("empty repository: nothing was ever pushed")
        log = self.git(["log", "--format=%H %ct %cI", "HEAD"], repo)
        commits = []
        for line in log.splitlines():
            sha, ts, iso = line.split(" ", 2)
            commits.append((sha, int(ts), iso))
        if self.deadline is None:
            sha, ts, iso = commits[0]
            return sha, ts, iso, [], head
        limit = self.deadline.timestamp()
        on_time = [c for c in commits if c[1] <= limit]
        late = [c[0] for c in commits if c[1] > limit]
        if not on_time:
            raise RepoError(
                f"no commit at or before the deadline {self.deadline.isoformat()} "
                f"({len(late)} commit(s) after it)"
            )
        best = max(on_time, key=lambda c: c[1])  # max() keeps the first of equal times
        return best[0], best[1], best[2], late, head

    def run_grader(self, submission: Path, out_json: Path) -> dict[str, Any]:
        cmd = [*self.grader_command, str(submission), "--out", str(out_json)]
        try:
            proc = subprocess.run(
                cmd,
                cwd=REPO_ROOT,
                env=self.grader_env(),
                capture_output=True,
                text=True,
                timeout=self.grade_timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise GraderFailed(f"the grader did not finish in {self.grade_timeout:g} s") from exc
        if proc.returncode != 0:
            tail = self._clean(proc.stderr) or "no message"
            raise GraderFailed(f"the grader exited with status {proc.returncode}: {tail}")
        try:
            data = json.loads(out_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GraderFailed(f"the grader wrote no valid results JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            raise GraderFailed("the grader's results JSON has no 'tests' list")
        return data

    def grade(self, row: RosterRow, work: Path) -> RepoResult:
        """Grade one student; never raises for problems of the repository."""
        started = time.monotonic()
        result = RepoResult(
            student=row.student, repo=row.display_repo, results={}, graded_at=_now()
        )
        details: dict[str, Any] = {
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "roster_line": row.line,
        }
        result.details = details
        repo_dir = work / "repo"
        try:
            self.fetch(row, repo_dir)
            details["clone_seconds"] = round(time.monotonic() - started, 2)
            sha, _, iso, late, head = self.pick_commit(repo_dir)
            result.commit, result.committed_at = sha, iso
            result.late = bool(late)
            details.update(head_commit=head, late_commits=late)
            self.git(
                ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", sha], repo_dir
            )
            exercise = repo_dir / EXERCISE_FILE
            if not exercise.is_file():
                raise RepoError(
                    f"no {EXERCISE_FILE} at the top of the repository (commit {sha[:7]})"
                )
            changes = self.manifest.check(repo_dir)
            result.tampered = [c.path for c in changes]
            details["tampering"] = [str(c) for c in changes]
            restore(repo_dir, self.originals, changes)
            graded = time.monotonic()
            data = self.run_grader(repo_dir, work / "results.json")
            details["grade_seconds"] = round(time.monotonic() - graded, 2)
            result.results = data
            extra = data.get("extra_data") or {}
            result.grader_version = str(extra.get("grader_version") or __version__)
            status = str(extra.get("grading_status", "graded"))
            if status != "graded":
                result.error = f"{status}: {extra.get('reason') or 'no reason given'}"
        except RepoError as exc:
            result.error = str(exc)
            result.results = could_not_grade_results(str(exc))
        except GraderFailed as exc:
            result.error = f"grader_error: {exc}"
            result.results = could_not_grade_results(str(exc), status="grader_error")
        except Exception as exc:  # a bug of ours must not stop the batch
            result.error = f"grader_error: internal error of grade-repos: {exc!r}"
            result.results = could_not_grade_results(result.error, status="grader_error")
            details["traceback"] = traceback.format_exc()
        details["seconds"] = round(time.monotonic() - started, 2)
        result.graded_at = _now()
        return result


class GraderFailed(Exception):
    """The grader itself failed for this submission (not the student's fault)."""


# ---------------------------------------------------------------------------- outputs


def summary_row(data: dict[str, Any]) -> dict[str, str]:
    extra = data.get("extra_data") or {}

    def num(x: Any) -> str:
        return f"{float(x or 0):g}"

    return {
        "student": str(data.get("student", "")),
        "repo": str(data.get("repo", "")),
        "commit": str(data.get("commit") or ""),
        "committed_at": str(data.get("committed_at") or ""),
        "score": num(data.get("score")),
        "max_score": num(data.get("max_score")),
        "bonus_score": num(extra.get("bonus_score")),
        "late": "true" if data.get("late") else "false",
        "tampered": ";".join(data.get("tampered") or []),
        "error": str(data.get("error") or ""),
        "grading_status": str(extra.get("grading_status", "")),
        "grader_version": str(data.get("grader_version", "")),
        "graded_at": str(data.get("graded_at", "")),
    }


def load_results(out_dir: Path) -> list[dict[str, Any]]:
    """Every per-student results file in ``out_dir`` (those with a ``student`` key), by name."""
    found = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"grade-repos: skipping {path}: {exc}", file=sys.stderr)
            continue
        if isinstance(data, dict) and data.get("student") == path.stem:
            found.append(data)
    return sorted(found, key=lambda d: str(d["student"]).lower())


def write_summary(out_dir: Path) -> Path:
    """(Re)write ``out_dir/summary.csv`` from all the per-student JSON files in it."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for data in load_results(out_dir):
        writer.writerow(summary_row(data))
    path = out_dir / SUMMARY_FILE
    tmp = path.with_name(f".{SUMMARY_FILE}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return path


def status_of(data: dict[str, Any]) -> tuple[str, str]:
    """(state, description) of the commit status for one results file (at most 140 chars).

    ``success`` when grading completed (whatever the score), ``failure`` when the repository
    could not be graded, ``error`` when the grader failed. The short flags come before the
    reason, which is cut first.
    """
    extra = data.get("extra_data") or {}
    parts = [f"Score {float(data.get('score') or 0):g}/{float(data.get('max_score') or 0):g}"]
    bonus = float(extra.get("bonus_score") or 0)
    if bonus:
        parts[0] += f" (incl. {bonus:g} bonus)"
    if data.get("late"):
        parts.append("commits after the deadline not graded")
    if data.get("tampered"):
        parts.append("protected files changed")
    grading = str(extra.get("grading_status", "graded"))
    state = "success"
    if data.get("error") or grading != "graded":
        state = "error" if grading == "grader_error" else "failure"
        parts.append(f"could not grade: {data.get('error') or extra.get('reason', '')}")
    return state, "; ".join(parts)[:140]


def post_statuses(
    results: Sequence[dict[str, Any]],
    *,
    token: str | None,
    base_url: str | None = None,
    target_url: str | None = None,
    hosts: tuple[str, ...] = ("github.com",),
) -> list[str]:
    """Post each graded commit's score as a commit status; return the failures (messages)."""
    from autograder import github_api

    failures = []
    gh = github_api.client(token, base_url=base_url)
    for data in results:
        full_name = github_api.repo_full_name(str(data.get("repo", "")), hosts=hosts)
        commit = data.get("commit")
        if not full_name or not commit:
            continue  # not on GitHub, or no commit to attach the status to
        state, description = status_of(data)
        url = target_url.format(student=data["student"]) if target_url else None
        try:
            github_api.post_commit_status(
                full_name,
                str(commit),
                state=state,
                description=description,
                token=token,
                base_url=base_url,
                target_url=url,
                gh=gh,
            )
        except (github_api.GitHubAPIError, ValueError) as exc:
            failures.append(f"{data['student']}: {exc}")
    return failures


# ---------------------------------------------------------------------------- the batch


@dataclass
class BatchResult:
    rows: list[RepoResult]
    out_dir: Path
    summary: Path
    seconds: float

    @property
    def errors(self) -> list[RepoResult]:
        return [r for r in self.rows if r.error]


def grade_repos(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    out_dir: str | os.PathLike,
    deadline: str | datetime | None = None,
    jobs: int = 1,
    shard: str | None = None,
    token: str | None = None,
    git_host: str = "github.com",
    grader_command: Sequence[str] | None = None,
    grade_timeout: float = 1800.0,
    workdir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Grade every student of ``roster`` (a CSV path or parsed rows) into ``out_dir``.

    Raises RosterError for an unusable roster or shard, ValueError for a bad deadline; problems
    of single repositories end up in their rows. ``workdir`` keeps the clones for inspection
    (default: a temporary folder removed at the end).
    """
    from autograder.release import build_release

    rows = read_roster(roster) if isinstance(roster, str | os.PathLike) else list(roster)
    rows = select_shard(rows, shard)
    when = parse_deadline(deadline) if isinstance(deadline, str) else deadline
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")
    release = build_release()
    manifest = Manifest.from_files(release)
    grader = Grader(
        manifest=manifest,
        originals={p: release[p] for p in manifest.files},
        deadline=when,
        grade_timeout=grade_timeout,
        token=token,
        git_host=git_host,
    )
    if grader_command is not None:
        grader.grader_command = tuple(grader_command)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.monotonic()
    results: list[RepoResult] = []
    lock = threading.Lock()
    tmp = None if workdir else tempfile.TemporaryDirectory(prefix="grade-repos-")
    root = Path(workdir) if workdir else Path(tmp.name)  # type: ignore[union-attr]
    try:

        def one(row: RosterRow) -> RepoResult:
            work = root / row.student
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            try:
                res = grader.grade(row, work)
                write_json_atomic(res.to_json(), out / f"{row.student}.json")
            finally:
                if not workdir:
                    shutil.rmtree(work, ignore_errors=True)
            return res

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(one, row): row for row in rows}
            for fut in as_completed(futures):
                row = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # writing the file failed: report, keep going
                    res = RepoResult(
                        student=row.student,
                        repo=row.display_repo,
                        results=could_not_grade_results(str(exc), status="grader_error"),
                        error=f"grader_error: {exc!r}",
                        graded_at=_now(),
                    )
                with lock:
                    results.append(res)
                    n = len(results)
                note = f"error: {res.error}" if res.error else "ok"
                flags = (" late" if res.late else "") + (" tampered" if res.tampered else "")
                say(
                    f"[{n}/{len(rows)}] {res.student}: {res.score:g}/{res.max_score:g}{flags} "
                    f"({res.details.get('seconds', 0):.1f} s) {note}"
                )
    finally:
        if tmp is not None:
            tmp.cleanup()
    summary = write_summary(out)
    results.sort(key=lambda r: r.student.lower())
    return BatchResult(
        rows=results, out_dir=out, summary=summary, seconds=time.monotonic() - started
    )


# ---------------------------------------------------------------------------- CLI glue


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "roster",
        nargs="?",
        metavar="ROSTER.csv",
        help="CSV with columns student,repo (repo: git URL or local path)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    parser.add_argument(
        "--deadline",
        metavar="ISO-8601",
        help="grade the last commit at or before this time (committer date; UTC if no zone)",
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="students in parallel")
    parser.add_argument("--shard", metavar="K/N", help="grade only shard K of N of the roster")
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
        "--post-status",
        action="store_true",
        help="post each score as the commit status 'autograder/score' on GitHub",
    )
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
    parser.add_argument("--git-host", default="github.com", help="host that gets the token")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed to grade one student"
    )
    parser.add_argument("--workdir", help="keep the clones here (default: a temporary folder)")


def run(args: argparse.Namespace) -> int:
    from autograder.release import ReleaseError

    token = os.environ.get(args.token_env) or None
    out = Path(args.out)
    hosts = (args.git_host,)
    try:
        if args.collect:
            if not out.is_dir():
                raise RosterError(f"--collect: {out} is not a folder of results")
            summary = write_summary(out)
            rows_data = load_results(out)
            print(f"summarised {len(rows_data)} student(s) in {summary}")
        else:
            if bool(args.roster) == bool(args.org):
                raise RosterError("give either a ROSTER.csv or --org (with --prefix), not both")
            if args.org:
                from autograder import github_api

                listed = github_api.list_org_repos(
                    args.org, prefix=args.prefix, token=token, base_url=args.api_url
                )
                roster: Any = parse_roster(
                    "student,repo\n" + "".join(f"{r.student},{r.clone_url}\n" for r in listed),
                    name=f"organisation {args.org}",
                )
            else:
                roster = args.roster
            batch = grade_repos(
                roster=roster,
                out_dir=out,
                deadline=args.deadline,
                jobs=args.jobs,
                shard=args.shard,
                token=token,
                git_host=args.git_host,
                grade_timeout=args.timeout,
                workdir=args.workdir,
            )
            n = len(batch.rows)
            print(
                f"graded {n} student(s) in {batch.seconds:.1f} s "
                f"({batch.seconds / max(n, 1):.1f} s per student, {args.jobs} job(s)); "
                f"{len(batch.errors)} with errors; summary: {batch.summary}"
            )
            rows_data = [r.to_json() for r in batch.rows]
    except (RosterError, ValueError, ReleaseError) as exc:
        print(f"grade-repos: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from autograder import github_api

        if isinstance(exc, github_api.GitHubAPIError):
            print(f"grade-repos: {exc}", file=sys.stderr)
            return 2
        raise
    if args.post_status:
        failures = post_statuses(
            rows_data, token=token, base_url=args.api_url, target_url=args.status_url, hosts=hosts
        )
        for msg in failures:
            print(f"grade-repos: commit status not posted: {msg}", file=sys.stderr)
        if failures:
            return 1
    return 0
