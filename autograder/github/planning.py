"""Which students to grade: the first job of the grading workflow, before anything is cloned.

``plan_grading`` lists every repository's head (``git ls-remote``: references only, no student
code, no content) and compares it, with the grader, the student's deadline and the late policy,
to the previous run's results (``reuse``). Only students with something new are graded: a new
head, no result yet, an extension, another grader, a grader error last time. It writes
``OUT/roster.csv`` (those students, in the roster's columns) and ``OUT/plan.json`` (every student
and why), and sizes the shards: ``ceil(to grade / per_shard)``, at most ``max_shards``, none when
nothing changed, so that the workflow ends without installing the grader.

A repository that cannot be listed keeps its previous result (a failure of the network or of the
token says nothing about the student's work); one never graded is graded, so that its error is
recorded. After the assignment closes (the latest deadline plus the late days), ``only_while_open``
plans nothing: scheduled runs stop costing minutes by themselves.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.files import atomic_writer, write_json_atomic
from autograder.github.deadlines import LatePolicy, iso
from autograder.github.git import Git, RepoError
from autograder.github.reuse import (
    GradingKey,
    grader_fingerprint,
    last_head,
    load_previous,
    regrade_reason,
)
from autograder.github.roster import RosterRow, is_url, read_roster

PLAN_ROSTER = "roster.csv"
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class StudentPlan:
    student: str
    grade: bool
    why: str  # the reason to grade, or why not


@dataclass
class GradingPlan:
    students: list[StudentPlan] = field(default_factory=list)
    shards: int = 0
    open: bool = True
    closes_at: str | None = None  # the latest deadline plus the late days (None: never)

    @property
    def to_grade(self) -> list[StudentPlan]:
        return [s for s in self.students if s.grade]

    def to_json(self) -> dict:
        return {
            "open": self.open,
            "closes_at": self.closes_at,
            "shards": self.shards,
            "to_grade": {s.student: s.why for s in self.to_grade},
            "kept": {s.student: s.why for s in self.students if not s.grade},
        }


def closing_time(
    rows: Sequence[RosterRow], deadline: datetime | None, policy: LatePolicy
) -> datetime | None:
    """When the last commit that can still be graded is due (None: some student has no deadline)."""
    deadlines = [row.deadline or deadline for row in rows]
    if not deadlines or any(d is None for d in deadlines):
        return None
    return policy.cutoff(max(d for d in deadlines if d is not None))


def _decide(
    row: RosterRow,
    *,
    git: Git,
    previous_dir: Path,
    deadline: datetime | None,
    policy: LatePolicy,
    fingerprint: str,
    force: bool,
) -> StudentPlan:
    if force:
        return StudentPlan(row.student, True, "--force")
    previous = load_previous(previous_dir, row.student)
    try:
        head = git.head_of(row)
    except RepoError as exc:
        if previous is None:
            return StudentPlan(row.student, True, f"not graded before ({exc})")
        return StudentPlan(row.student, False, f"{exc}; the previous result is kept")
    key = GradingKey(
        grader=fingerprint,
        deadline=iso(row.deadline or deadline),
        late_days=policy.days,
        late_penalty=policy.penalty_percent,
    )
    reason = regrade_reason(previous, key)
    if reason is None and head != last_head(previous_dir, row.student, previous):
        reason = "new commits were pushed"
    if reason is None:
        return StudentPlan(row.student, False, f"unchanged (head {(head or 'none')[:7]})")
    return StudentPlan(row.student, True, reason)


def plan_grading(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    previous_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    deadline: datetime | None = None,
    late_policy: LatePolicy | None = None,
    force: bool = False,
    only_while_open: bool = False,
    max_shards: int = 4,
    per_shard: int = 30,
    jobs: int = 8,
    token: str | None = None,
    git_host: str = "github.com",
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> GradingPlan:
    """Plan a grading run into ``out_dir`` (see the module's docstring).

    ``previous_dir`` may be missing or empty (a first run: everyone is graded). Raises
    RosterError for an unusable roster, ValueError for bad numbers.
    """
    if max_shards < 1 or per_shard < 1 or jobs < 1:
        raise ValueError("--max-shards, --per-shard and --jobs must be at least 1")
    rows = read_roster(roster) if isinstance(roster, str | os.PathLike) else list(roster)
    policy = late_policy or LatePolicy()
    closes = closing_time(rows, deadline, policy)
    plan = GradingPlan(closes_at=iso(closes))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if only_while_open and closes is not None and now() > closes:
        plan.open = False
        plan.students = [StudentPlan(r.student, False, "the assignment is closed") for r in rows]
    else:
        git = Git(token=token, git_host=git_host, git_timeout=120.0)
        fingerprint = grader_fingerprint()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            plan.students = list(
                pool.map(
                    lambda row: _decide(
                        row,
                        git=git,
                        previous_dir=Path(previous_dir),
                        deadline=deadline,
                        policy=policy,
                        fingerprint=fingerprint,
                        force=force,
                    ),
                    rows,
                )
            )
    chosen = {s.student for s in plan.to_grade}
    plan.shards = min(max_shards, math.ceil(len(chosen) / per_shard))
    with atomic_writer(out / PLAN_ROSTER) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["student", "repo", "deadline"])
        for row in rows:
            if row.student in chosen:
                repo = row.repo if not row.repo or is_url(row.repo) else row.source
                writer.writerow([row.student, repo, iso(row.deadline) or ""])
    write_json_atomic(plan.to_json(), out / PLAN_FILE)
    return plan
