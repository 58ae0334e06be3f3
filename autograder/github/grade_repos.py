"""``python -m autograder grade-repos ROSTER.csv --out DIR``: grade every student repository.

For each roster row (columns ``student,repo``; ``repo`` is a git URL or a local path, relative to
the roster's folder) this clones the repository, picks the last commit at or before the deadline
(committer date; later commits make the row *late*), compares the protected files with the
manifest of the current release (any change is reported as tampering and undone), grades the
exercise with ``python -m autograder grade`` in a subprocess of its own, and writes
``DIR/<student>.json``: the results JSON plus ``student, repo, commit, committed_at, late,
tampered, error, isolation, grader_version, graded_at``. ``DIR/summary.csv`` has one row per
JSON file in DIR (and one for every student of the batch whose JSON could not be written).

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
``--post-status`` posts each score to GitHub as a commit status (``autograder.github.post_statuses``).
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
from autograder.authoring.manifest import Manifest, restore
from autograder.files import atomic_writer, write_json_atomic
from autograder.github.post_statuses import add_github_arguments
from autograder.grading.submission import EXERCISE_NOTEBOOK
from autograder.paths import EXERCISE_FILE, REPO_ROOT
from autograder.sandbox.client import ISOLATIONS

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
    "isolation",
)
STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# names Windows refuses for files (results are often downloaded there)
_RESERVED_NAMES = {"con", "prn", "aux", "nul"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in range(10)
}
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$|^GH_|^GITHUB_")


class RosterError(Exception):
    """The roster cannot be used; the message lists every problem with its line number."""


class RepoError(Exception):
    """This student's repository cannot be graded; the message says why (for the summary)."""


class NoCommitBeforeDeadline(RepoError):
    """Every commit is later than the deadline: the row is late, and has nothing to grade."""

    def __init__(self, message: str, *, late: list[str], head: str) -> None:
        super().__init__(message)
        self.late = late
        self.head = head


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


def student_name_problem(student: str) -> str | None:
    """Why ``student`` cannot name a results file, or None when it can."""
    reserved = student.split(".")[0].lower() in _RESERVED_NAMES
    if not STUDENT_NAME.fullmatch(student) or student.endswith(".") or reserved:
        return (
            f"unsafe student name {student!r}: use letters, digits, '.', '_' "
            "and '-' only (at most 100, starting with a letter or digit); it names the "
            "results file"
        )
    return None


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
        problem = student_name_problem(student)
        if problem:
            problems.append(f"line {line}: {problem}")
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


def roster_from_org(listed: Sequence[Any], *, org: str = "") -> tuple[list[RosterRow], list[str]]:
    """Roster rows for the repositories of an organisation (``github_api.OrgRepo`` objects).

    A repository whose student name cannot name a results file (``bngc-.x``, ``bngc-CON``) or
    that repeats another's (ignoring case) is left out with a warning (the second list): one odd
    repository must not stop the class from being graded.
    """
    rows: list[RosterRow] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    where = f" of {org}" if org else ""
    for repo in listed:
        student = str(repo.student)
        name = str(repo.full_name)
        problem = student_name_problem(student)
        if problem is None and student.lower() in seen:
            problem = f"student {student!r} is also the student of {seen[student.lower()]}"
        if problem:
            warnings.append(f"skipping the repository {name}{where}: {problem}")
            continue
        seen[student.lower()] = name
        url = str(repo.clone_url)
        rows.append(RosterRow(student=student, repo=url, line=0, source=url))
    return rows, warnings


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
    isolation: str | None = None  # how the grader isolated the student's code (None: not graded)

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
            isolation=self.isolation,
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


def parse_deadline(text: str) -> datetime | None:
    """An ISO-8601 date/time (UTC when without a time zone), or None for ``none`` (any case).

    ``none`` grades the latest commits, as the grading workflow's ``deadline`` input offers.
    """
    if text.strip().lower() == "none":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"not an ISO-8601 date/time: {text!r} (e.g. 2026-12-01T23:59:00+01:00, or 'none' "
            "for the latest commits)"
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
    isolation: str = "auto"  # passed to `grade --isolation`
    clones: Path | None = None  # grade from the clones of `--fetch-only` instead of the network

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

    def fetch(self, row: RosterRow, dest: Path, *, bare: bool = False) -> None:
        """Clone the repository without checking anything out (links become plain files).

        With ``clones`` set, the clone comes from ``clones/<student>.git`` (written by
        ``fetch_repos``), and the reason it could not be fetched from ``<student>.error``.
        """
        source = row.source
        if self.clones is not None:
            failed = self.clones / f"{row.student}.error"
            if failed.is_file():
                raise RepoError(failed.read_text(encoding="utf-8").strip() or "could not fetch")
            source = str((self.clones / f"{row.student}.git").resolve())
            if not Path(source).is_dir():
                raise RepoError(
                    f"not fetched: {self.clones} has no clone of this student "
                    "(run grade-repos --fetch-only with the same roster first)"
                )
        elif not row.repo:
            raise RepoError("no repository in the roster for this student")
        elif not _is_url(row.repo) and not Path(row.source).exists():
            raise RepoError(f"repository not found: {row.display_repo}")
        try:
            self.git(
                [
                    "-c", "core.symlinks=false",
                    "-c", "core.autocrlf=false",
                    "-c", "protocol.file.allow=always",
                    "clone", "--quiet", "--bare" if bare else "--no-checkout", "--no-hardlinks",
                    "--config", "core.symlinks=false",
                    "--", source, str(dest),
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
            raise NoCommitBeforeDeadline(
                f"no commit at or before the deadline {self.deadline.isoformat()} "
                f"({len(late)} commit(s) after it, none graded)",
                late=late,
                head=head,
            )
        best = max(on_time, key=lambda c: c[1])  # max() keeps the first of equal times
        return best[0], best[1], best[2], late, head

    def run_grader(self, submission: Path, out_json: Path) -> dict[str, Any]:
        cmd = [
            *self.grader_command,
            str(submission),
            "--out",
            str(out_json),
            "--isolation",
            self.isolation,
        ]
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
        used = str((data.get("extra_data") or {}).get("isolation") or "")
        if self.isolation != "auto" and used != self.isolation:
            raise GraderFailed(
                f"--isolation {self.isolation} was asked for, but the grader reports "
                f"isolation {used or 'unknown'!r}; refusing its results"
            )
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
            try:
                sha, _, iso, late, head = self.pick_commit(repo_dir)
            except NoCommitBeforeDeadline as exc:
                result.late = True
                details.update(head_commit=exc.head, late_commits=exc.late)
                raise
            result.commit, result.committed_at = sha, iso
            result.late = bool(late)
            details.update(head_commit=head, late_commits=late)
            try:
                self.git(
                    ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", sha],
                    repo_dir,
                )
            except RepoError as exc:  # git's own words stay with the instructor
                details["git_error"] = str(exc)
                raise RepoError(f"could not check out commit {sha[:7]}") from exc
            if not any((repo_dir / name).is_file() for name in (EXERCISE_FILE, EXERCISE_NOTEBOOK)):
                raise RepoError(
                    f"no {EXERCISE_FILE} (or {EXERCISE_NOTEBOOK}) at the top of the repository "
                    f"(commit {sha[:7]})"
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
            result.isolation = str(extra.get("isolation") or "") or None
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
        "isolation": str(data.get("isolation") or extra.get("isolation") or ""),
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


def write_summary(
    out_dir: Path,
    rows: Sequence[dict[str, Any]] = (),
    *,
    files: Sequence[dict[str, Any]] | None = None,
) -> Path:
    """(Re)write ``out_dir/summary.csv`` from all the per-student JSON files in it.

    ``rows`` (results of the batch just graded) take the place of a student's file: a row
    whose JSON could not be written is still in the summary, with its error. ``files`` are
    those files when the caller has already read them (``load_results(out_dir)``), so that they
    are not read, and their problems reported, a second time.
    """
    if files is None:
        files = load_results(out_dir)
    by_student = {str(d["student"]).lower(): d for d in files}
    for data in rows:
        by_student[str(data["student"]).lower()] = data
    path = out_dir / SUMMARY_FILE
    with atomic_writer(path) as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for key in sorted(by_student):
            writer.writerow(summary_row(by_student[key]))
    return path


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


def _rows_of(roster: str | os.PathLike | Sequence[RosterRow], shard: str | None) -> list[RosterRow]:
    rows = read_roster(roster) if isinstance(roster, str | os.PathLike) else list(roster)
    return select_shard(rows, shard)


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")


def grade_repos(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    out_dir: str | os.PathLike,
    deadline: str | datetime | None = None,
    jobs: int = 1,
    shard: str | None = None,
    token: str | None = None,
    git_host: str = "github.com",
    isolation: str = "auto",
    clones: str | os.PathLike | None = None,
    grader_command: Sequence[str] | None = None,
    grade_timeout: float = 1800.0,
    workdir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Grade every student of ``roster`` (a CSV path or parsed rows) into ``out_dir``.

    Raises RosterError for an unusable roster or shard, ValueError for a bad deadline, job count
    or isolation; problems of single repositories end up in their rows. ``isolation`` is passed
    to every ``grade``; unless it is ``auto``, results graded any other way are refused (a grader
    error row). ``clones`` grades from the folder written by ``fetch_repos`` instead of cloning.
    ``workdir`` keeps the clones for inspection (default: a temporary folder removed at the end).
    """
    from autograder.authoring.release import build_release

    rows = _rows_of(roster, shard)
    when = parse_deadline(deadline) if isinstance(deadline, str) else deadline
    _check_jobs(jobs)
    if isolation not in ISOLATIONS:
        raise ValueError(f"--isolation must be one of {', '.join(ISOLATIONS)}")
    if clones is not None and not Path(clones).is_dir():
        raise ValueError(f"--clones {clones}: no such folder (run grade-repos --fetch-only first)")
    release = build_release()
    manifest = Manifest.from_files(release)
    grader = Grader(
        manifest=manifest,
        originals={p: release[p] for p in manifest.files},
        deadline=when,
        grade_timeout=grade_timeout,
        token=token,
        git_host=git_host,
        isolation=isolation,
        clones=Path(clones) if clones is not None else None,
    )
    if grader_command is not None:
        grader.grader_command = tuple(grader_command)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.monotonic()
    results: list[RepoResult] = []  # appended to on this thread only, as futures complete
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
            finally:
                if not workdir:
                    shutil.rmtree(work, ignore_errors=True)
            target = out / f"{row.student}.json"
            try:
                write_json_atomic(res.to_json(), target)
            except OSError as exc:  # the row stays in summary.csv, with this error
                note = f"could not write {target}: {exc}"
                res.error = f"{res.error}; {note}" if res.error else f"grader_error: {note}"
            return res

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(one, row): row for row in rows}
            for fut in as_completed(futures):
                row = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # e.g. the work folder cannot be made: keep going
                    res = RepoResult(
                        student=row.student,
                        repo=row.display_repo,
                        results=could_not_grade_results(str(exc), status="grader_error"),
                        error=f"grader_error: {exc!r}",
                        graded_at=_now(),
                    )
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
    results.sort(key=lambda r: r.student.lower())
    summary = write_summary(out, [r.to_json() for r in results])
    return BatchResult(
        rows=results, out_dir=out, summary=summary, seconds=time.monotonic() - started
    )


@dataclass
class FetchResult:
    clones_dir: Path
    fetched: list[str]  # students whose repository is in clones_dir/<student>.git
    failed: dict[str, str]  # student -> why (also in clones_dir/<student>.error)
    seconds: float


def fetch_repos(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    clones_dir: str | os.PathLike,
    shard: str | None = None,
    jobs: int = 1,
    token: str | None = None,
    git_host: str = "github.com",
    progress: Callable[[str], None] | None = None,
) -> FetchResult:
    """Clone every repository of ``roster`` into ``clones_dir/<student>.git`` (bare clones).

    The first half of grading in two steps: this one has the network and the token and runs no
    student code; ``grade_repos(clones=clones_dir)`` then grades without either. A repository
    that cannot be cloned gets ``<student>.error`` with the reason, which grading turns into the
    student's error row; the batch goes on.
    """
    rows = _rows_of(roster, shard)
    _check_jobs(jobs)
    folder = Path(clones_dir)
    folder.mkdir(parents=True, exist_ok=True)
    grader = Grader(manifest=Manifest({}), originals={}, token=token, git_host=git_host)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.monotonic()
    fetched: list[str] = []
    failed: dict[str, str] = {}

    def one(row: RosterRow) -> str | None:
        dest = folder / f"{row.student}.git"
        error_file = folder / f"{row.student}.error"
        for old in (dest, error_file):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        try:
            grader.fetch(row, dest, bare=True)
        except RepoError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            error_file.write_text(f"{exc}\n", encoding="utf-8")
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, row): row for row in rows}
        for n, fut in enumerate(as_completed(futures), 1):
            row = futures[fut]
            try:
                error = fut.result()
            except OSError as exc:  # the clones folder itself is the problem: say so, go on
                error = f"could not fetch into {folder}: {exc}"
            if error:
                failed[row.student] = error
            else:
                fetched.append(row.student)
            say(f"[{n}/{len(rows)}] {row.student}: " + (f"error: {error}" if error else "fetched"))
    return FetchResult(
        clones_dir=folder,
        fetched=sorted(fetched, key=str.lower),
        failed=dict(sorted(failed.items())),
        seconds=time.monotonic() - started,
    )


# ---------------------------------------------------------------------------- CLI glue


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
    from autograder.github.post_statuses import post_results, print_report

    token = os.environ.get(args.token_env) or None
    hosts = (args.git_host,)
    try:
        _check_options(args, token)
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
