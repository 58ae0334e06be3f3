"""The gradebook: an SQLite database of every graded submission (standard library ``sqlite3``).

Schema and migrations
---------------------
``schema_version`` holds one row, the version of the schema. ``MIGRATIONS[i]`` takes a database
from version ``i`` to ``i + 1``; opening a gradebook applies the missing ones in order, each in
its own transaction together with the version bump, so a failed migration leaves the database
at the previous version. A database newer than this code is refused rather than misread.

To change the schema: append a function to ``MIGRATIONS`` (never edit a released one) and add
a test that opens a database at the previous version.

History
-------
A results file is one row of ``submissions`` when it says something new about the student: the
same file ingested twice is stored once (deduplicated on the hash of its content), and a
grading that repeats the student's previous row (the same commit, score and grader version,
and status, late flag, deadline and penalty: ``Submission.unchanged_from``) adds no row either,
so regrading unchanged commits keeps the history as it was. A student's current submission is
their latest graded one (``StudentRow.current``). Each row names the grading run that wrote it
(``run_id``); the class view's rounds are those runs.

Manual points (``manual_points``) are kept per student, by login, between runs: an import
replaces a student's entry, and a student without a submission keeps theirs until they have one.

Students are keyed on their login case-insensitively (GitHub logins are: ``Ada`` and ``ada``
are one account); ``students.login`` keeps the spelling of the newest submission for display.

Robustness
----------
Each submission is stored under its own savepoint: one that the database refuses is reported
as a ``Problem`` and skipped, and the others of the run are kept. A database that cannot be
opened or written (a directory, a read-only file, a full disk) is a ``GradebookError`` with
a message, and the run stores nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.grading.results import GradingResult, TestResult
from autograder.scoreboard.model import (
    ManualPoints,
    Problem,
    StudentRow,
    Submission,
    login_key,
    utc,
)


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run SQL statements one by one (``executescript`` would commit the open transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {statement!r}")


def _v1_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE students (
            id    INTEGER PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            repo  TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE submissions (
            id             INTEGER PRIMARY KEY,
            student_id     INTEGER NOT NULL REFERENCES students(id),
            repo           TEXT NOT NULL DEFAULT '',
            commit_sha     TEXT NOT NULL DEFAULT '',
            committed_at   TEXT,             -- ISO-8601, UTC
            graded_at      TEXT NOT NULL,    -- ISO-8601, UTC
            grader_version TEXT NOT NULL DEFAULT '',
            grading_status TEXT NOT NULL,    -- graded | could_not_grade | grader_error
            reason         TEXT NOT NULL DEFAULT '',
            error          TEXT,             -- set when the repository could not be graded
            score          REAL NOT NULL,    -- bonus included
            max_score      REAL NOT NULL,    -- non-bonus tests only
            bonus_score    REAL NOT NULL DEFAULT 0,
            execution_time REAL NOT NULL DEFAULT 0,
            late           INTEGER NOT NULL DEFAULT 0,
            isolation      TEXT NOT NULL DEFAULT '',
            student_output TEXT NOT NULL DEFAULT '',
            traceback      TEXT NOT NULL DEFAULT '',
            extra          TEXT NOT NULL DEFAULT '{}',  -- unknown extra_data keys, JSON
            fingerprint    TEXT NOT NULL,    -- sha256 of the results file's content
            source_file    TEXT NOT NULL DEFAULT '',
            ingested_at    TEXT NOT NULL,
            UNIQUE (student_id, fingerprint)
        );
        CREATE TABLE tampered_files (
            submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            path          TEXT NOT NULL,
            PRIMARY KEY (submission_id, path)
        );
        CREATE TABLE test_results (
            submission_id   INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            position        INTEGER NOT NULL,
            number          TEXT NOT NULL,
            name            TEXT NOT NULL,
            tag             TEXT NOT NULL,
            score           REAL NOT NULL,
            max_score       REAL NOT NULL,
            status          TEXT NOT NULL,   -- passed | failed
            output          TEXT NOT NULL,   -- the feedback the student sees
            visibility      TEXT NOT NULL,
            instructor_note TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (submission_id, position)
        );
        """,
    )


def _v2_problems_and_index(db: sqlite3.Connection) -> None:
    """Keep a record of skipped results files; index the current-submission lookup."""
    _run_script(
        db,
        """
        CREATE TABLE ingest_problems (
            id       INTEGER PRIMARY KEY,
            source   TEXT NOT NULL,
            message  TEXT NOT NULL,
            skipped  INTEGER NOT NULL,
            seen_at  TEXT NOT NULL,
            UNIQUE (source, message)
        );
        CREATE INDEX submissions_by_student_time ON submissions (student_id, graded_at);
        CREATE INDEX test_results_by_name ON test_results (name);
        """,
    )


def _v3_current_view(db: sqlite3.Connection) -> None:
    """``current_submissions``: each student's current submission, for queries by hand.

    The same rule as ``StudentRow.current`` (tested to agree): the latest submission with a
    verdict on the student's code (graded or could_not_grade, and not a repository problem,
    i.e. an error without a commit); if there is none, the latest submission of any kind.
    """
    _run_script(
        db,
        """
        CREATE VIEW current_submissions AS
        SELECT st.login AS student, s.*
        FROM submissions s JOIN students st ON st.id = s.student_id
        WHERE s.id = (
            SELECT s2.id FROM submissions s2
            WHERE s2.student_id = s.student_id
            ORDER BY (s2.grading_status IN ('graded', 'could_not_grade')
                      AND NOT (coalesce(s2.error, '') != '' AND s2.commit_sha = '')) DESC,
                     s2.graded_at DESC, s2.id DESC
            LIMIT 1
        );
        """,
    )


def _v4_case_insensitive_logins(db: sqlite3.Connection) -> None:
    """Key students on their login case-insensitively; merge ``Ada`` and ``ada`` if both exist.

    The merged student keeps the spelling of their newest submission; a submission both had
    stored (the same content hash) is kept once.
    """
    db.execute("ALTER TABLE students ADD COLUMN login_key TEXT NOT NULL DEFAULT ''")
    rows = db.execute(
        """SELECT st.id, st.login, max(s.graded_at) FROM students st
           LEFT JOIN submissions s ON s.student_id = st.id
           GROUP BY st.id ORDER BY st.id"""
    ).fetchall()
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for sid, login, newest in rows:
        # the same rule as model.login_key, spelled out: a released migration never changes
        groups.setdefault(login.strip().casefold(), []).append((sid, login, newest or ""))
    for key, members in groups.items():
        target = members[0][0]
        display = max(members, key=lambda m: (m[2], m[0]))[1]
        for sid, _, _ in members[1:]:
            db.execute(
                """DELETE FROM submissions WHERE student_id = ? AND fingerprint IN
                   (SELECT fingerprint FROM submissions WHERE student_id = ?)""",
                (sid, target),
            )
            db.execute("UPDATE submissions SET student_id = ? WHERE student_id = ?", (target, sid))
            db.execute("DELETE FROM students WHERE id = ?", (sid,))
        db.execute(
            "UPDATE students SET login = ?, login_key = ? WHERE id = ?", (display, key, target)
        )
    db.execute("CREATE UNIQUE INDEX students_by_login_key ON students (login_key)")


def _v5_runs_late_policy_answers_manual_points(db: sqlite3.Connection) -> None:
    """Grading runs (``run_id``), the student's deadline, the late policy (``raw_score``,
    ``late_days``, ``penalty``; ``score`` is then after the penalty), written answers, and the
    ``manual_points`` table.

    Rows stored before have no run: each gets the one of its results directory and ingestion
    time (``"<directory> ingested <time>"``), what a build stored together, as ingest does for
    a file without ``run_id``.
    """
    _run_script(
        db,
        """
        ALTER TABLE submissions ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
        ALTER TABLE submissions ADD COLUMN deadline TEXT;          -- ISO-8601, UTC
        ALTER TABLE submissions ADD COLUMN raw_score REAL;         -- NULL: no late policy
        ALTER TABLE submissions ADD COLUMN late_days INTEGER;
        ALTER TABLE submissions ADD COLUMN penalty REAL;
        ALTER TABLE submissions ADD COLUMN answers TEXT NOT NULL DEFAULT '{}';  -- JSON
        ALTER TABLE submissions ADD COLUMN answers_source TEXT NOT NULL DEFAULT '';
        CREATE TABLE manual_points (
            login_key   TEXT PRIMARY KEY,   -- the student, as students.login_key
            login       TEXT NOT NULL,      -- as written in the imported file
            points      REAL NOT NULL,
            comment     TEXT NOT NULL DEFAULT '',
            source      TEXT NOT NULL DEFAULT '',
            imported_at TEXT NOT NULL
        );
        CREATE INDEX submissions_by_run ON submissions (run_id);
        """,
    )
    rows = db.execute("SELECT id, source_file, ingested_at FROM submissions").fetchall()
    db.executemany(
        "UPDATE submissions SET run_id = ? WHERE id = ?",
        [(legacy_run_id(str(Path(src).parent), when), sid) for sid, src, when in rows],
    )


def legacy_run_id(directory: str, ingested_at: str) -> str:
    """The run of results written before grade-repos named theirs (see migration 5)."""
    return f"{directory} ingested {ingested_at}"


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1_initial,
    _v2_problems_and_index,
    _v3_current_view,
    _v4_case_insensitive_logins,
    _v5_runs_late_policy_answers_manual_points,
]
SCHEMA_VERSION = len(MIGRATIONS)


class GradebookError(RuntimeError):
    """The gradebook cannot be opened or written (the message says which file and why)."""


class SchemaError(GradebookError):
    """The database was written by a newer version of this code, or is not a gradebook."""


def schema_version(db: sqlite3.Connection) -> int:
    row = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    (version,) = db.execute("SELECT version FROM schema_version").fetchone() or (0,)
    return int(version)


def migrate(db: sqlite3.Connection, *, target: int | None = None) -> list[int]:
    """Apply the missing migrations up to ``target`` (default: all); returns versions reached."""
    latest = len(MIGRATIONS)
    target = latest if target is None else target
    current = schema_version(db)
    if current > latest:
        raise SchemaError(
            f"gradebook schema version {current} is newer than this code knows "
            f"({latest}); upgrade the autograder"
        )
    applied = []
    for version in range(current, target):
        with db:  # one transaction: the migration and the version bump, or neither
            db.execute("BEGIN")
            if version == 0:
                db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                db.execute("INSERT INTO schema_version VALUES (0)")
            MIGRATIONS[version](db)
            db.execute("UPDATE schema_version SET version = ?", (version + 1,))
        applied.append(version + 1)
    return applied


def connect(path: str | Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None)  # explicit transactions
    db.execute("PRAGMA foreign_keys = ON")
    return db


@dataclass(frozen=True)
class IngestReport:
    added: int
    unchanged: int  # the same file again, or a grading that repeats the previous row
    problems: list[Problem] = field(default_factory=list)  # submissions the database refused


@dataclass(frozen=True)
class ManualEntry:
    """One row of a manual points file: ``student,points,comment``."""

    student: str
    points: float
    comment: str = ""


class Gradebook:
    """The gradebook database; opening it migrates it to the current schema.

    Raises ``GradebookError`` (``SchemaError`` for a foreign or newer database) when the file
    cannot be used; never leaves a half-migrated database.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise GradebookError(
                f"{self.path} is a directory; the gradebook is a file "
                f"(e.g. {self.path / 'gradebook.sqlite3'})"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GradebookError(
                f"cannot create the gradebook's directory {self.path.parent}: {exc.strerror or exc}"
            ) from exc
        try:
            self.db = connect(self.path)
        except sqlite3.Error as exc:
            raise GradebookError(f"cannot open the gradebook {self.path}: {exc}") from exc
        try:
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            migrate(self.db)
            self._check_writable()
        except sqlite3.OperationalError as exc:  # read-only, locked, disk full, I/O error
            self.db.close()
            raise GradebookError(f"cannot write the gradebook {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise SchemaError(f"{self.path} is not a usable gradebook: {exc}") from exc
        except BaseException:
            self.db.close()
            raise

    def _check_writable(self) -> None:
        """Fail now, before reading any results, if the database cannot be written."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("UPDATE schema_version SET version = version")
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            self.db.execute("BEGIN")
            yield self.db

    # -- writing -----------------------------------------------------------------------------
    def add(self, submissions: Iterable[Submission]) -> IngestReport:
        """Store submissions not seen before (by student and content hash), in one transaction.

        Each submission has its own savepoint: one the database refuses (a constraint, a value
        SQLite cannot store) is rolled back alone and reported in ``IngestReport.problems``.
        An error of the database itself (read-only, disk full) stores nothing and raises
        ``GradebookError``.
        """
        added = unchanged = 0
        problems: list[Problem] = []
        now = _iso(datetime.now(timezone.utc)) or ""
        try:
            with self._transaction() as db:
                for sub in submissions:
                    db.execute("SAVEPOINT one_submission")
                    try:
                        stored = self._add_one(db, sub, now)
                    except sqlite3.OperationalError:
                        raise
                    except Exception as exc:  # this submission only; the others are kept
                        db.execute("ROLLBACK TO one_submission")
                        db.execute("RELEASE one_submission")
                        sub.id = None
                        problems.append(
                            Problem(
                                sub.source_file or sub.student,
                                f"not stored in the gradebook: {type(exc).__name__}: {exc}",
                            )
                        )
                        continue
                    db.execute("RELEASE one_submission")
                    added += stored
                    unchanged += not stored
        except sqlite3.OperationalError as exc:
            raise GradebookError(f"cannot write the gradebook {self.path}: {exc}") from exc
        return IngestReport(added, unchanged, problems)

    def _add_one(self, db: sqlite3.Connection, sub: Submission, now: str) -> bool:
        """Store one submission unless known; True when it was added."""
        student_id = self._student_id(db, sub.student, sub.repo, _iso(sub.graded_at) or "")
        exists = db.execute(
            "SELECT id FROM submissions WHERE student_id = ? AND fingerprint = ?",
            (student_id, sub.fingerprint),
        ).fetchone()
        if exists:
            sub.id = exists[0]
            return False
        previous = self._previous(db, student_id, sub)
        if previous is not None and sub.unchanged_from(previous):
            sub.id = previous.id
            return False
        r = sub.result
        policy = sub.penalty is not None
        cur = db.execute(
            """INSERT INTO submissions (student_id, repo, commit_sha, committed_at,
                graded_at, grader_version, grading_status, reason, error, score,
                max_score, bonus_score, execution_time, late, isolation, student_output,
                traceback, extra, fingerprint, source_file, ingested_at, run_id, deadline,
                raw_score, late_days, penalty, answers, answers_source)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                       ?, ?, ?, ?, ?, ?, ?)""",
            (
                student_id, sub.repo, sub.commit, _iso(sub.committed_at),
                _iso(sub.graded_at), sub.grader_version, r.status, r.reason, sub.error,
                sub.score, r.max_score, r.bonus_score, r.execution_time, int(sub.late),
                r.isolation, r.student_output, r.traceback,
                json.dumps(r.extra, sort_keys=True, default=str), sub.fingerprint,
                sub.source_file, now, sub.run_id or legacy_run_id(
                    str(Path(sub.source_file).parent), now),
                _iso(sub.deadline), sub.raw_score if policy else None,
                sub.late_days if policy else None, sub.penalty,
                json.dumps(sub.answers, sort_keys=True), sub.answers_source,
            ),
        )  # fmt: skip
        sub.id = cur.lastrowid
        db.executemany(
            "INSERT OR IGNORE INTO tampered_files VALUES (?, ?)",
            [(sub.id, p) for p in sub.tampered],
        )
        db.executemany(
            "INSERT INTO test_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    sub.id,
                    i,
                    t.number,
                    t.name,
                    t.tag,
                    t.score,
                    t.max_score,
                    t.status,
                    t.output,
                    t.visibility,
                    t.instructor_note,
                )
                for i, t in enumerate(r.tests)
            ],
        )
        return True

    def _previous(
        self, db: sqlite3.Connection, student_id: int, sub: Submission
    ) -> Submission | None:
        """The student's stored row graded last before ``sub`` (or at the same time)."""
        row = db.execute(
            """SELECT s.id FROM submissions s WHERE s.student_id = ? AND s.graded_at <= ?
               ORDER BY s.graded_at DESC, s.id DESC LIMIT 1""",
            (student_id, _iso(sub.graded_at)),
        ).fetchone()
        if row is None:
            return None
        (found,) = self._read_submissions("WHERE s.id = ?", (row[0],))
        return found

    def set_manual_points(self, entries: Iterable[ManualEntry], *, source: str) -> int:
        """Store manual points (one transaction: all or none); returns how many changed.

        A student's entry replaces their earlier one; the same points and comment again change
        nothing (not even the import time).
        """
        now = _iso(datetime.now(timezone.utc))
        changed = 0
        try:
            with self._transaction() as db:
                for e in entries:
                    key = login_key(e.student)
                    old = db.execute(
                        "SELECT points, comment FROM manual_points WHERE login_key = ?", (key,)
                    ).fetchone()
                    if old is not None and (old[0], old[1]) == (e.points, e.comment):
                        continue
                    db.execute(
                        """INSERT INTO manual_points VALUES (?, ?, ?, ?, ?, ?)
                           ON CONFLICT (login_key) DO UPDATE SET login = excluded.login,
                             points = excluded.points, comment = excluded.comment,
                             source = excluded.source, imported_at = excluded.imported_at""",
                        (key, e.student, e.points, e.comment, source, now),
                    )
                    changed += 1
        except sqlite3.OperationalError as exc:
            raise GradebookError(f"cannot write the gradebook {self.path}: {exc}") from exc
        return changed

    def manual_points(self) -> dict[str, ManualPoints]:
        """Manual points by login key."""
        return {
            key: ManualPoints(points, comment, source, _from_iso(when))
            for key, points, comment, source, when in self.db.execute(
                "SELECT login_key, points, comment, source, imported_at FROM manual_points"
            )
        }

    def add_problems(self, problems: Iterable[Problem]) -> None:
        """Record results files skipped or accepted with a warning (``seen_at``: first seen)."""
        now = _iso(datetime.now(timezone.utc))
        with self._transaction() as db:
            db.executemany(
                """INSERT INTO ingest_problems (source, message, skipped, seen_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (source, message) DO NOTHING""",  # seen again: no change
                [(p.source, p.message, int(p.skipped), now) for p in problems],
            )

    def _student_id(self, db: sqlite3.Connection, login: str, repo: str, graded_at: str) -> int:
        """The student's id (created if new), found by login whatever its case.

        A submission at least as new as the student's newest sets the displayed spelling.
        """
        key = login_key(login)
        row = db.execute("SELECT id, login FROM students WHERE login_key = ?", (key,)).fetchone()
        if row is None:
            return int(
                db.execute(
                    "INSERT INTO students (login, login_key, repo) VALUES (?, ?, ?)",
                    (login, key, repo),
                ).lastrowid
            )
        student_id, shown = int(row[0]), row[1]
        if repo:
            db.execute("UPDATE students SET repo = ? WHERE id = ?", (repo, student_id))
        if shown != login:
            (newest,) = db.execute(
                "SELECT max(graded_at) FROM submissions WHERE student_id = ?", (student_id,)
            ).fetchone()
            if newest is None or graded_at >= newest:
                db.execute("UPDATE students SET login = ? WHERE id = ?", (login, student_id))
        return student_id

    # -- reading -----------------------------------------------------------------------------
    def submissions(self, student: str | None = None) -> list[Submission]:
        """Every stored submission (of one student), oldest grading first."""
        if student is None:
            return self._read_submissions("", ())
        return self._read_submissions("WHERE st.login_key = ?", (login_key(student),))

    def _read_submissions(self, where: str, params: tuple[object, ...]) -> list[Submission]:
        rows = self.db.execute(
            f"""SELECT s.id, st.login, s.repo, s.commit_sha, s.committed_at, s.graded_at,
                    s.grader_version, s.grading_status, s.reason, s.error, s.execution_time,
                    s.late, s.isolation, s.student_output, s.traceback, s.extra, s.fingerprint,
                    s.source_file, s.run_id, s.deadline, s.late_days, s.penalty, s.answers,
                    s.answers_source
                FROM submissions s JOIN students st ON st.id = s.student_id {where}
                ORDER BY s.graded_at, s.id""",
            params,
        ).fetchall()
        ids = [r[0] for r in rows]
        tests = self._tests(ids)
        tampered = self._tampered(ids)
        out = []
        for (
            sid, login, repo, commit, committed_at, graded_at, grader_version, status, reason,
            error, execution_time, late, isolation, student_output, traceback, extra,
            fp, source, run_id, deadline, late_days, penalty, answers, answers_source,
        ) in rows:  # fmt: skip
            result = GradingResult(
                tests=tests.get(sid, []),
                status=status,
                reason=reason,
                execution_time=execution_time,
                grader_version=grader_version,
                isolation=isolation,
                student_output=student_output,
                traceback=traceback,
                extra=json.loads(extra),
            )
            out.append(
                Submission(
                    student=login,
                    result=result,
                    graded_at=_from_iso(graded_at) or datetime.min.replace(tzinfo=timezone.utc),
                    repo=repo,
                    commit=commit,
                    committed_at=_from_iso(committed_at),
                    late=bool(late),
                    tampered=tuple(tampered.get(sid, ())),
                    error=error,
                    grader_version=grader_version,
                    source_file=source,
                    fingerprint=fp,
                    id=sid,
                    run_id=run_id,
                    deadline=_from_iso(deadline),
                    late_days=late_days,
                    penalty=penalty,
                    answers=json.loads(answers),
                    answers_source=answers_source,
                )
            )
        return out

    def _tests(self, ids: list[int]) -> dict[int, list[TestResult]]:
        tests: dict[int, list[TestResult]] = {}
        for (
            sid, number, name, tag, score, max_score, output, visibility, note, status,
        ) in self._rows_of(
            ids,
            """SELECT submission_id, number, name, tag, score, max_score, output, visibility,
                   instructor_note, status FROM test_results {where}
               ORDER BY submission_id, position""",
        ):  # fmt: skip
            test = TestResult(name, number, tag, max_score, score, output, visibility, note)
            test.outcome = status  # the stated status (a 0-point check's score cannot tell)
            tests.setdefault(sid, []).append(test)
        return tests

    def _tampered(self, ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for sid, path in self._rows_of(
            ids,
            "SELECT submission_id, path FROM tampered_files {where} ORDER BY submission_id, path",
        ):
            out.setdefault(sid, []).append(path)
        return out

    def _rows_of(self, ids: list[int], query: str) -> list[tuple[object, ...]]:
        """``query``'s rows for the submissions ``ids`` (all of a table's when that is all)."""
        if not ids:
            return []
        if len(ids) == self.count("submissions"):
            return self.db.execute(query.format(where="")).fetchall()
        where = "WHERE submission_id IN (SELECT value FROM json_each(?))"
        return self.db.execute(query.format(where=where), (json.dumps(ids),)).fetchall()

    def students(self) -> list[StudentRow]:
        """One row per student: their history, oldest first (the current one is computed),
        and their manual points."""
        history: dict[str, list[Submission]] = {}
        for sub in self.submissions():
            history.setdefault(sub.student, []).append(sub)
        manual = self.manual_points()
        return [
            StudentRow(login, subs, manual=manual.get(login_key(login)))
            for login, subs in history.items()
        ]

    def current(self) -> dict[str, Submission]:
        """Each student's current submission (the latest graded one)."""
        return {r.student: r.current for r in self.students() if r.current is not None}

    def problems(self) -> list[Problem]:
        return [
            Problem(source, message, bool(skipped))
            for source, message, skipped in self.db.execute(
                "SELECT source, message, skipped FROM ingest_problems ORDER BY seen_at, id"
            )
        ]

    def count(self, table: str) -> int:
        if table not in {
            "students", "submissions", "test_results", "tampered_files", "manual_points",
        }:  # fmt: skip
            raise ValueError(f"unknown table {table!r}")
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else utc(dt).isoformat(timespec="seconds")


def _from_iso(text: str | None) -> datetime | None:
    return None if not text else utc(datetime.fromisoformat(text))
