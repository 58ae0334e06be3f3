"""The roster: which student's repository is where, from a CSV file or a GitHub organisation.

A roster CSV has a header with at least ``student,repo`` (``repo``: a git URL, or a path
relative to the roster's folder) and optionally ``deadline`` (ISO-8601: this student's deadline,
an extension, in place of the class's ``--deadline``); a class can also be listed from an
organisation (``roster_from_org``). Student names name files, so they are checked
(``student_name_problem``). Shards (``--shard K/N``) split a roster over machines.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from autograder.github.deadlines import parse_deadline

STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# names Windows refuses for files (results are often downloaded there)
_RESERVED_NAMES = {"con", "prn", "aux", "nul"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in range(10)
}


class RosterError(Exception):
    """The roster cannot be used; the message lists every problem with its line number."""


@dataclass(frozen=True)
class RosterRow:
    student: str
    repo: str  # as written in the roster (URL or path)
    line: int = 0  # line in the roster file, for messages
    source: str = ""  # what git clones: the URL, or the absolute local path
    deadline: datetime | None = None  # this student's own deadline (None: the class's)

    @property
    def display_repo(self) -> str:
        return redact_url(self.repo)


def is_url(repo: str) -> bool:
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

    An optional ``deadline`` column holds a student's own deadline (ISO-8601; empty: the class's).
    Blank lines and rows whose student starts with ``#`` are skipped. Raises RosterError listing
    every problem: missing columns, empty or unsafe student names, duplicate students (ignoring
    case, as file names on some systems do), deadlines that are not ISO-8601. A row without a
    repository is kept: it becomes a row with an error in the results, so that the student still
    appears.
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
        deadline = None
        text = (record.get("deadline") or "").strip()
        if text:
            try:
                deadline = parse_deadline(text)
            except ValueError as exc:
                problems.append(f"line {line}: deadline of {student!r}: {exc}")
                continue
            if deadline is None:
                problems.append(
                    f"line {line}: deadline of {student!r}: 'none' is for --deadline only; leave "
                    "the cell empty for the class's deadline"
                )
                continue
        source = repo
        if repo and not is_url(repo):
            source = str((base_dir / Path(repo).expanduser()).resolve())
        rows.append(
            RosterRow(student=student, repo=repo, line=line, source=source, deadline=deadline)
        )
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
