"""The results folder of ``grade-repos``: ``<student>.json`` per student and ``summary.csv``.

``summary.csv`` speaks the vocabulary of every file of the course (``grading.results``):
``grading_status`` is one of ``STATUSES`` (a repository that cannot be graded, for whatever
reason of the repository's, is ``could_not_grade``; a failure of the grader ``grader_error``),
and booleans are ``yes_no`` (``true``/``false``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.files import atomic_writer
from autograder.grading.results import COULD_NOT_GRADE, GRADED, GRADER_ERROR, yes_no

SUMMARY_FILE = "summary.csv"
SUBMISSIONS_DIR = "submissions"
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
    "deadline",
    "raw_score",
    "late_days",
    "penalty",
    "run_id",
    "answers",
)


def grading_status(data: dict[str, Any]) -> str:
    """``graded``, ``could_not_grade`` or ``grader_error`` (``grading.results.STATUSES``)."""
    status = str((data.get("extra_data") or {}).get("grading_status") or "")
    error = str(data.get("error") or "")
    if status == GRADER_ERROR or error.startswith(GRADER_ERROR):
        return GRADER_ERROR
    if error or status == COULD_NOT_GRADE:
        return COULD_NOT_GRADE
    return status or GRADED


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
        "late": yes_no(bool(data.get("late"))),
        "tampered": ";".join(data.get("tampered") or []),
        "error": str(data.get("error") or ""),
        "grading_status": grading_status(data),
        "grader_version": str(data.get("grader_version", "")),
        "graded_at": str(data.get("graded_at", "")),
        "isolation": str(data.get("isolation") or extra.get("isolation") or ""),
        "deadline": str(data.get("deadline") or ""),
        "raw_score": num(data.get("raw_score", data.get("score"))),
        "late_days": str(int(float(data.get("late_days") or 0))),
        "penalty": num(data.get("penalty")),
        "run_id": str(data.get("run_id") or ""),
        "answers": str(len(data.get("answers") or {})),
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
