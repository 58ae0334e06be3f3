"""The students' repositories through git: clone (with the token as an HTTP header, never in a
URL), pick the commit to grade by the deadline, check it out. Nothing here runs student code."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from autograder.github.roster import RosterRow, is_url


class RepoError(Exception):
    """This student's repository cannot be graded; the message says why (for the summary)."""


class NoCommitBeforeDeadline(RepoError):
    """Every commit is later than the deadline: the row is late, and has nothing to grade."""

    def __init__(self, message: str, *, late: list[str], head: str) -> None:
        super().__init__(message)
        self.late = late
        self.head = head


@dataclass(frozen=True)
class Picked:
    """The commit chosen for grading, and what the deadline left out."""

    sha: str
    committed_at: str  # ISO-8601, the committer date
    late: list[str]  # commits after the cutoff, not graded (newest first)
    head: str  # the repository's head when it was fetched
    after_deadline: int = 0  # commits after the deadline (graded or not)


@dataclass
class Git:
    """How to reach the repositories: the token and its host, or the clones of ``--fetch-only``."""

    token: str | None = None
    git_host: str = "github.com"
    git_timeout: float = 600.0
    clones: Path | None = None  # grade from the clones of `--fetch-only` instead of the network

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

    def run(self, args: list[str], cwd: Path | None = None) -> str:
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
            raise RepoError(self.clean(proc.stderr) or f"git {args[0]} failed")
        return proc.stdout

    def clean(self, text: str) -> str:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else ""
        if self.token:
            msg = msg.replace(self.token, "***")
        return re.sub(r"://[^/@\s]+@", "://", msg)

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
        elif not is_url(row.repo) and not Path(row.source).exists():
            raise RepoError(f"repository not found: {row.display_repo}")
        try:
            self.run(
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

    def pick_commit(
        self, repo: Path, deadline: datetime | None, *, cutoff: datetime | None = None
    ) -> Picked:
        """The commit to grade: the last one at or before ``cutoff`` (committer date; by default
        the deadline, later with a late policy). Commits after the cutoff are listed as late."""
        try:
            head = self.run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo).strip()
        except RepoError:
            head = ""
        if not head:
            raise RepoError("empty repository: nothing was ever pushed")
        log = self.run(["log", "--format=%H %ct %cI", "HEAD"], repo)
        commits = []
        for line in log.splitlines():
            sha, ts, iso = line.split(" ", 2)
            commits.append((sha, int(ts), iso))
        if deadline is None:
            sha, _, iso = commits[0]
            return Picked(sha, iso, [], head)
        limit = (cutoff or deadline).timestamp()
        on_time = [c for c in commits if c[1] <= limit]
        late = [c[0] for c in commits if c[1] > limit]
        after_deadline = sum(c[1] > deadline.timestamp() for c in commits)
        if not on_time:
            when = "deadline" if cutoff is None else "end of the late period"
            raise NoCommitBeforeDeadline(
                f"no commit at or before the {when} {(cutoff or deadline).isoformat()} "
                f"({len(late)} commit(s) after it, none graded)",
                late=late,
                head=head,
            )
        best = max(on_time, key=lambda c: c[1])  # max() keeps the first of equal times
        return Picked(best[0], best[2], late, head, after_deadline)

    def head_of(self, row: RosterRow) -> str | None:
        """The commit the repository's HEAD points to (``git ls-remote``), None when it is empty.

        Only lists references: nothing is downloaded. Raises RepoError when the repository
        cannot be reached (the message says why, the token never in it).
        """
        if not row.repo:
            raise RepoError("no repository in the roster for this student")
        if not is_url(row.repo) and not Path(row.source).exists():
            raise RepoError(f"repository not found: {row.display_repo}")
        try:
            out = self.run(
                ["-c", "protocol.file.allow=always", "ls-remote", "--", row.source, "HEAD"]
            )
        except RepoError as exc:
            raise RepoError(f"could not list {row.display_repo}: {exc}") from exc
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref.strip() == "HEAD" and re.fullmatch(r"[0-9a-f]{40}", sha.strip()):
                return sha.strip()
        return None
