"""Incremental grading: when a student's previous result still stands.

A result is reused, unchanged (``graded_at`` and ``run_id`` included), when the commit to grade,
the grader and the student's deadline (with the late policy) are those it was graded with, and
the grader did not fail (``grader_error``). Anything else is graded again: a new commit, another
grader, an extension, a grader error.

*The grader* is more than its version number (which stays ``1.0.0`` while checks are fixed):
``grader_fingerprint`` hashes every file that decides a grade (the checks, the sandbox, the
release whose protected files are compared and restored, the reference solution, the template,
``pyproject.toml`` with the version), so that changing a check regrades the class. It is read
from the files, not from the installed package's metadata, so that the workflow's plan, which
runs from a checkout without installing anything, finds the same.

The grading workflow asks the same question before cloning anything, with the repository's head
instead of the commit to grade (``git ls-remote``): an unchanged head with the same grader and
deadline means the same commit to grade. The head each student was last checked at is kept in
``DIR/heads/<student>.json`` (a reused results file is not rewritten, so it cannot hold it).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autograder.files import write_json_atomic
from autograder.github.results_dir import grading_status
from autograder.grading.results import GRADER_ERROR
from autograder.paths import REPO_ROOT

HEADS_DIR = "heads"
# what decides a grade, relative to the repository root
GRADER_DIRS = ("autograder/grading", "autograder/sandbox", "autograder/authoring")
GRADER_FILES = (
    "pyproject.toml",
    "solutions/batchnorm_gradclip_exercise.py",
    "assignment/batchnorm_gradclip_exercise.py",
    "assignment/batchnorm_gradclip_exercise.ipynb",
    "assignment/exercise_utils.py",
)


@functools.cache
def grader_fingerprint(root: Path = REPO_ROOT) -> str:
    """``sha256:HASH``: a hash of every file that decides a grade (16 hex digits)."""
    digest = hashlib.sha256()
    paths = [root / f for f in GRADER_FILES if (root / f).is_file()]
    for folder in GRADER_DIRS:
        paths += [
            p
            for p in (root / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class GradingKey:
    """What a result was graded with besides the commit (``extra_data.grade_repos.grading_key``)."""

    grader: str
    deadline: str | None
    late_days: int = 0
    late_penalty: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def previous_key(previous: dict[str, Any]) -> dict[str, Any] | None:
    details = (previous.get("extra_data") or {}).get("grade_repos") or {}
    key = details.get("grading_key")
    return key if isinstance(key, dict) else None


def regrade_reason(
    previous: dict[str, Any] | None,
    key: GradingKey,
    *,
    commit: str | None = None,
    isolation: str = "auto",
) -> str | None:
    """Why ``previous`` cannot stand for this grading (None: reuse it as it is).

    ``commit`` is the commit to grade now (the workflow's plan, which has not cloned, leaves it
    out and compares heads instead: ``last_head``). ``isolation`` other than ``auto`` requires
    the previous grading to have used it.
    """
    if previous is None:
        return "not graded before"
    old = previous_key(previous)
    if old is None:
        return "graded without incremental grading"
    new = key.to_json()
    if old.get("grader") != new["grader"]:
        return "the grader changed"
    if old.get("deadline") != new["deadline"]:
        return "the deadline changed"
    if (old.get("late_days"), old.get("late_penalty")) != (new["late_days"], new["late_penalty"]):
        return "the late policy changed"
    if grading_status(previous) == GRADER_ERROR:
        return "the grader failed last time"
    if commit is not None and previous.get("commit") != commit:
        return "a new commit to grade"
    if isolation != "auto" and previous.get("isolation") != isolation:
        return f"graded before with isolation {previous.get('isolation')!r}"
    return None


def load_previous(folder: Path | None, student: str) -> dict[str, Any] | None:
    """``folder/<student>.json`` as grade-repos wrote it, or None when there is no usable one."""
    if folder is None:
        return None
    try:
        data = json.loads((folder / f"{student}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("student") != student:
        return None
    return data


def last_head(folder: Path, student: str, previous: dict[str, Any] | None) -> str | None:
    """The head ``student``'s repository had when it was last fetched: ``heads/<student>.json``,
    else the ``head_commit`` of the previous result."""
    try:
        seen = json.loads((folder / HEADS_DIR / f"{student}.json").read_text(encoding="utf-8"))
        if isinstance(seen, dict) and isinstance(seen.get("head"), str):
            return seen["head"]
    except (OSError, ValueError):
        pass
    details = ((previous or {}).get("extra_data") or {}).get("grade_repos") or {}
    return str(details.get("head_commit") or "") or None


def write_head(folder: Path, student: str, *, head: str, commit: str | None, at: str) -> None:
    """Note the head ``student``'s repository was fetched at (``last_head``)."""
    write_json_atomic(
        {"head": head, "commit": commit, "checked_at": at}, folder / HEADS_DIR / f"{student}.json"
    )
