"""One student's grading: clone, pick the commit, restore protected files, grade in a subprocess.

``StudentGrader.grade`` never raises for a problem of the repository (missing, empty, no exercise
file, no commit before the deadline) or of the grader: the ``RepoResult`` carries the error and a
results JSON that says it. The grader runs as ``python -m autograder grade`` in a process of its
own, or, when a ``GraderPool`` is given (grade-repos gives one), in one of the pool's grading
servers, which grade exactly as that command does but start once for many students; either way
with an environment that holds no token or secret. A previous result still valid for the
commit to grade (``reuse``) is kept as it is instead; the student's own deadline (roster) and the
late policy decide the commit and the penalty; the written answers and the graded file(s) of the
commit are collected.
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
from autograder.github.answers import Answers, collect_answers
from autograder.github.deadlines import LatePolicy, iso
from autograder.github.git import Git, NoCommitBeforeDeadline, RepoError
from autograder.github.reuse import GradingKey, grader_fingerprint, regrade_reason
from autograder.github.roster import RosterRow
from autograder.grading.gradescope import to_gradescope
from autograder.grading.pool import GraderPool, GradingFailed, GradingTimedOut
from autograder.grading.process import run_grading_process
from autograder.grading.results import COULD_NOT_GRADE, GRADER_ERROR, MAX_SCORE, not_graded
from autograder.grading.submission import SubmissionNotFound, find_submission
from autograder.paths import REPO_ROOT
from autograder.sandbox.names import EDITIONS, EXERCISE_FILE, EXERCISE_NOTEBOOK

# The grader's command line; with it, a pool's servers can grade instead (``StudentGrader.pool``)
DEFAULT_GRADER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "autograder", "grade")
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
    deadline: str | None = None  # the student's deadline (ISO-8601; None: the latest commits)
    run_id: str = ""  # the grading run that produced this result
    late_policy: bool = False  # a late policy was on (CONTRACT 4: then the next two are written)
    late_days: int = 0  # started days between the deadline and the graded commit
    penalty: float = 0.0  # points taken off for them (late policy)
    answers: Answers = field(default_factory=Answers)
    files: dict[str, bytes] = field(default_factory=dict)  # the graded edition(s), by name
    previous: dict[str, Any] | None = None  # a previous result kept as it is (not regraded)
    note: str = ""  # for the instructor's progress line (why the previous result was kept)

    @property
    def reused(self) -> bool:
        return self.previous is not None

    @property
    def raw_score(self) -> float:
        return float(self.results.get("score", 0.0))

    @property
    def score(self) -> float:
        if self.previous is not None:
            return float(self.previous.get("score") or 0.0)
        return max(0.0, round(self.raw_score - self.penalty, 4))

    @property
    def max_score(self) -> float:
        data = self.previous if self.previous is not None else self.results
        return float(data.get("max_score", MAX_SCORE))

    @property
    def grading_status(self) -> str:
        data = self.previous if self.previous is not None else self.results
        return str((data.get("extra_data") or {}).get("grading_status", "graded"))

    def to_json(self) -> dict[str, Any]:
        """The student's results file; a reused one exactly as it was."""
        if self.previous is not None:
            return self.previous
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
            run_id=self.run_id,
            deadline=self.deadline,
            score=self.score,
            answers=dict(self.answers.answers),
            answers_source=self.answers.source,
        )
        if self.late_policy:  # without one, score is the grader's and nothing else is said
            data.update(raw_score=self.raw_score, late_days=self.late_days, penalty=self.penalty)
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
    grader_command: Sequence[str] = DEFAULT_GRADER_COMMAND
    # grading servers to grade with instead of a `grade` process per student (only for the
    # default grader_command; the pool's timeout and isolation are this grader's)
    pool: GraderPool | None = None
    grade_timeout: float = 1800.0
    isolation: str = "auto"  # passed to `grade --isolation`
    late_policy: LatePolicy = field(default_factory=LatePolicy)
    run_id: str = ""
    force: bool = False  # regrade even when a previous result is still valid
    answers_template: str | None = None  # the released ANSWERS.md, if the release has one
    fingerprint: str = field(default_factory=grader_fingerprint)

    def grader_env(self) -> dict[str, str]:
        """The environment of the grader: no token or secret reaches student code."""
        return {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k.upper())}

    def run_grader(self, submission: Path, out_json: Path) -> dict[str, Any]:
        """Grade ``submission`` into ``out_json`` and return the results JSON; ``GraderFailed``
        when the grader did not finish, failed, or isolated the code otherwise than asked."""
        if self.pool is not None and tuple(self.grader_command) == DEFAULT_GRADER_COMMAND:
            returncode, stderr = self._grade_in_pool(self.pool, submission, out_json)
        else:
            returncode, stderr = self._grade_in_process(submission, out_json)
        if returncode != 0:
            tail = self.git.clean(stderr) or "no message"
            raise GraderFailed(f"the grader exited with status {returncode}: {tail}")
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

    def _grade_in_process(self, submission: Path, out_json: Path) -> tuple[int, str]:
        """``grader_command`` in a process of its own: its exit status and stderr."""
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
        return proc.returncode, proc.stderr

    @staticmethod
    def _grade_in_pool(pool: GraderPool, submission: Path, out_json: Path) -> tuple[int, str]:
        """A grading server of ``pool``: what ``grade`` would have exited with and printed."""
        try:
            reply = pool.grade(submission, out_json)
        except GradingTimedOut as exc:
            raise GraderFailed(f"the grader did not finish in {exc.seconds:g} s") from exc
        except GradingFailed as exc:
            raise GraderFailed(f"the grader failed: {exc}") from exc
        return reply.exit_status, reply.stderr

    def key_for(self, deadline: datetime | None) -> GradingKey:
        """What a result graded now for ``deadline`` is graded with (``reuse``)."""
        return GradingKey(
            grader=self.fingerprint,
            deadline=iso(deadline),
            late_days=self.late_policy.days,
            late_penalty=self.late_policy.penalty_percent,
        )

    def grade(
        self, row: RosterRow, work: Path, *, previous: dict[str, Any] | None = None
    ) -> RepoResult:
        """Grade one student (or keep ``previous``, their last result); never raises for
        problems of the repository."""
        started = time.monotonic()
        deadline = row.deadline or self.deadline
        result = RepoResult(
            student=row.student,
            repo=row.display_repo,
            results={},
            graded_at=now(),
            deadline=iso(deadline),
            run_id=self.run_id,
        )
        key = self.key_for(deadline)
        details: dict[str, Any] = {
            "deadline": iso(deadline),
            "roster_line": row.line,
            "grading_key": key.to_json(),
        }
        result.details = details
        repo_dir = work / "repo"
        try:
            try:
                self.git.fetch(row, repo_dir)
            except RepoError as exc:
                if previous is not None and previous.get("commit") and not self.force:
                    result.previous = previous  # a fetch that failed says nothing of the work
                    result.note = f"could not fetch ({exc}); the previous result is kept"
                    return result
                raise
            details["clone_seconds"] = round(time.monotonic() - started, 2)
            cutoff = (
                self.late_policy.cutoff(deadline) if deadline and self.late_policy.days else None
            )
            try:
                picked = self.git.pick_commit(repo_dir, deadline, cutoff=cutoff)
            except NoCommitBeforeDeadline as exc:
                result.late = True
                details.update(head_commit=exc.head, late_commits=exc.late)
                raise
            sha = picked.sha
            result.commit, result.committed_at = sha, picked.committed_at
            result.late = picked.after_deadline > 0
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
            reason = (
                "--force"
                if self.force
                else regrade_reason(previous, key, commit=sha, isolation=self.isolation)
            )
            if reason is None:
                result.previous = previous
                result.note = f"same commit {sha[:7]}, grader and deadline: not regraded"
                result.files = self._graded_files(repo_dir, previous or {})
                return result
            details["regraded_because"] = reason
            changes = self.manifest.check(repo_dir)
            result.tampered = [c.path for c in changes]
            details["tampering"] = [str(c) for c in changes]
            restore(repo_dir, self.originals, changes)
            self._collect(result, repo_dir, {})  # kept even if the grader fails
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
            self._collect(result, repo_dir, data)
            committed = datetime.fromisoformat(picked.committed_at)
            result.late_policy = self.late_policy.on
            result.late_days = self.late_policy.days_late(committed, deadline)
            result.penalty = self.late_policy.penalty(result.late_days, result.max_score)
        except RepoError as exc:
            same = previous is not None and previous.get("error") == str(exc)
            if same and not self.force and regrade_reason(previous, key) is None:
                result.previous = previous  # nothing new: the same repository, the same problem
                result.note = "the same problem as last time"
                return result
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

    def _collect(self, result: RepoResult, repo_dir: Path, data: dict[str, Any]) -> None:
        """The graded file(s) and the written answers of the checked-out commit."""
        result.files = self._graded_files(repo_dir, data)
        result.answers = collect_answers(
            repo_dir, graded=sorted(result.files), template=self.answers_template
        )

    @staticmethod
    def _graded_files(repo_dir: Path, data: dict[str, Any]) -> dict[str, bytes]:
        """The edition(s) the grader graded (its ``submission`` and ``other_edition``), by name;
        the one ``find_submission`` picks when the results do not say."""
        extra = data.get("extra_data") or {}
        named = [extra.get("submission"), (extra.get("other_edition") or {}).get("submission")]
        names = {Path(str(n)).name for n in named if n} & set(EDITIONS)
        if not names:
            names = {find_submission(repo_dir).name}
        return {n: (repo_dir / n).read_bytes() for n in sorted(names) if (repo_dir / n).is_file()}


class GraderFailed(Exception):
    """The grader itself failed for this submission (not the student's fault)."""
