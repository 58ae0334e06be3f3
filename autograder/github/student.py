"""One student's grading: clone, pick the commit, restore protected files, grade in a subprocess.

``StudentGrader.grade`` never raises for a problem of the repository (missing, empty, no exercise
file, no commit before the deadline) or of the grader: the ``RepoResult`` carries the error and a
results JSON that says it. The grader runs as ``python -m autograder grade`` in a process of its
own, with an environment that holds no token or secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autograder import __version__
from autograder.authoring.manifest import Manifest, restore
from autograder.github.git import Git, NoCommitBeforeDeadline, RepoError
from autograder.github.roster import RosterRow
from autograder.grading.gradescope import to_gradescope
from autograder.grading.process import run_grading_process
from autograder.grading.results import COULD_NOT_GRADE, GRADER_ERROR, MAX_SCORE, not_graded
from autograder.grading.submission import SubmissionNotFound, find_submission
from autograder.paths import REPO_ROOT
from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_NOTEBOOK

_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$|^GH_|^GITHUB_")


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
        return float(self.results.get("max_score", MAX_SCORE))

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


def could_not_grade_results(message: str, *, status: str = COULD_NOT_GRADE) -> dict[str, Any]:
    """A results JSON with score 0 and one failed entry that says why (``results.not_graded``)."""
    return to_gradescope(
        not_graded(
            status=status,
            reason=message,
            output=f"Could not grade your repository: {message}",
            grader_version=__version__,
        )
    )


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StudentGrader:
    """Everything one batch shares: the release's protected files, the deadline, the repositories
    (``git``) and how to run the grader."""

    manifest: Manifest
    originals: dict[str, bytes]
    git: Git = field(default_factory=Git)
    deadline: datetime | None = None
    grader_command: Sequence[str] = (sys.executable, "-m", "autograder", "grade")
    grade_timeout: float = 1800.0
    isolation: str = "auto"  # passed to `grade --isolation`

    def grader_env(self) -> dict[str, str]:
        """The environment of the grader: no token or secret reaches student code."""
        return {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k.upper())}

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
            proc = run_grading_process(
                cmd, cwd=REPO_ROOT, env=self.grader_env(), timeout=self.grade_timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise GraderFailed(f"the grader did not finish in {self.grade_timeout:g} s") from exc
        if proc.returncode != 0:
            tail = self.git.clean(proc.stderr) or "no message"
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
        result = RepoResult(student=row.student, repo=row.display_repo, results={}, graded_at=now())
        details: dict[str, Any] = {
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "roster_line": row.line,
        }
        result.details = details
        repo_dir = work / "repo"
        try:
            self.git.fetch(row, repo_dir)
            details["clone_seconds"] = round(time.monotonic() - started, 2)
            try:
                picked = self.git.pick_commit(repo_dir, self.deadline)
            except NoCommitBeforeDeadline as exc:
                result.late = True
                details.update(head_commit=exc.head, late_commits=exc.late)
                raise
            sha = picked.sha
            result.commit, result.committed_at = sha, picked.committed_at
            result.late = bool(picked.late)
            details.update(head_commit=picked.head, late_commits=picked.late)
            try:
                self.git.run(
                    ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", sha],
                    repo_dir,
                )
            except RepoError as exc:  # git's own words stay with the instructor
                details["git_error"] = str(exc)
                raise RepoError(f"could not check out commit {sha[:7]}") from exc
            try:
                find_submission(repo_dir)
            except SubmissionNotFound:
                raise RepoError(
                    f"no {EXERCISE_FILE} (or {EXERCISE_NOTEBOOK}) at the top of the repository "
                    f"(commit {sha[:7]})"
                ) from None
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
            result.results = could_not_grade_results(str(exc), status=GRADER_ERROR)
        except Exception as exc:  # a bug of ours must not stop the batch
            result.error = f"grader_error: internal error of grade-repos: {exc!r}"
            result.results = could_not_grade_results(result.error, status=GRADER_ERROR)
            details["traceback"] = traceback.format_exc()
        details["seconds"] = round(time.monotonic() - started, 2)
        result.graded_at = now()
        return result


class GraderFailed(Exception):
    """The grader itself failed for this submission (not the student's fault)."""
