"""Scoreboard: ingestion of results files, the gradebook database, statistics, site, exports."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from autograder.cli import main as cli_main
from autograder.files import write_json_atomic
from autograder.grading.gradescope import to_gradescope
from autograder.grading.results import (
    COULD_NOT_GRADE,
    GRADED,
    GRADER_ERROR,
    STATUSES,
    GradingResult,
)
from autograder.grading.results import TestResult as CheckResult
from autograder.scoreboard import db as dbmod
from autograder.scoreboard import ingest as ingestmod
from autograder.scoreboard import site as sitemod
from autograder.scoreboard.command import build_scoreboard
from autograder.scoreboard.db import (
    Gradebook,
    GradebookError,
    SchemaError,
    migrate,
    schema_version,
)
from autograder.scoreboard.exports import LMS_COLUMNS
from autograder.scoreboard.figures import FIGURE_NAMES
from autograder.scoreboard.ingest import MAX_DEPTH, read_results_dir, read_results_file
from autograder.scoreboard.model import Board
from autograder.scoreboard.site import MANIFEST, SiteError, repo_url, student_slug, unique_slugs
from tests.fixtures.synthetic_class import load_catalogue, make_synthetic_class

T0 = datetime(2026, 11, 2, 18, 0, tzinfo=timezone.utc)
HOSTILE = "<script>alert(1)</script>"
HOSTILE_FEEDBACK = '<img src=x onerror="alert(2)"><b>bold</b> & </pre><script>alert(3)</script>'


def checks(passed: set[str] | None = None, *, feedback: str = "Expected: x\nGot: y\nHint: z"):
    """Four checks over two tags plus a bonus; ``passed`` names the ones that pass."""
    spec = [
        ("add_batchnorm: new Sequential", "1.1", "add_batchnorm", 4.0),
        ("add_batchnorm: BatchNorm1d after hidden Linear", "1.2", "add_batchnorm", 6.0),
        ("clip_gradients: norm at most max_norm", "3.1", "clip_gradients", 10.0),
        ("bonus: ManualBatchNorm1d matches", "7.1", "bonus", 2.0),
    ]
    everything = {s[0] for s in spec}
    passed = everything if passed is None else passed
    return [
        CheckResult(
            name,
            number,
            tag,
            pts,
            pts if name in passed else 0.0,
            "" if name in passed else feedback,
        )
        for name, number, tag, pts in spec
    ]


def results_file(
    directory: Path,
    student: str,
    *,
    passed: set[str] | None = None,
    graded_at: datetime = T0,
    commit: str = "a" * 40,
    status: str = GRADED,
    error: str | None = None,
    late: bool = False,
    tampered: list[str] | None = None,
    feedback: str = "Expected: x\nGot: y\nHint: z",
    filename: str | None = None,
    run_id: str | None = None,
    **fields: Any,
) -> Path:
    """A results file as grade-repos writes it; ``fields`` are further top-level keys
    (``deadline``, ``late_days``, ``penalty``, ``answers``, ...)."""
    if error:
        data: dict[str, Any] = {"score": 0, "max_score": 0, "output": "", "tests": []}
    else:
        result = GradingResult(
            tests=checks(passed if status == GRADED else set(), feedback=feedback),
            status=status,
            reason="" if status == GRADED else "SyntaxError: invalid syntax (line 3)",
            grader_version="1.0.0",
        )
        data = to_gradescope(result)
    data.update(
        student=student,
        repo=f"dlwp/hw-{student}",
        commit=commit if not error else "",
        committed_at=(graded_at - timedelta(hours=1)).isoformat(),
        late=late,
        tampered=tampered or [],
        error=error,
        grader_version="1.0.0",
        graded_at=graded_at.isoformat(),
    )
    if run_id is not None:
        data["run_id"] = run_id
    data.update(fields)
    return write_json_atomic(data, directory / (filename or f"{student}.json"))


ALL = {c.name for c in checks()}
HALF = {"add_batchnorm: new Sequential", "add_batchnorm: BatchNorm1d after hidden Linear"}


# -- ingestion ---------------------------------------------------------------------------------


def test_a_results_file_becomes_a_submission(tmp_path):
    path = results_file(tmp_path, "ada", passed=HALF, late=True, tampered=["tests/t.py"])
    sub, problems = read_results_file(path)
    assert problems == []
    assert sub is not None
    assert (sub.student, sub.status, sub.score, sub.max_score) == ("ada", GRADED, 10.0, 20.0)
    assert sub.late and sub.tampered == ("tests/t.py",)
    assert sub.graded_at == T0 and sub.committed_at == T0 - timedelta(hours=1)
    assert sub.by_tag() == {
        "add_batchnorm": (10.0, 10.0),
        "clip_gradients": (0.0, 10.0),
        "bonus": (0.0, 2.0),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"score": 3, "tests": [', "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"student": "x", "score": 1}', "no 'tests' list"),
        (
            '{"student": "x", "tests": [{"name": "a", "tags": ["nope"], "score": 1, '
            '"max_score": 1}]}',
            "unknown tag",
        ),
        ('{"student": "x", "tests": [{"name": "a", "tags": ["bonus"]}]}', "malformed"),
        ('{"student": "x", "tests": [], "extra_data": [1]}', "malformed results"),
        ('{"student": "", "tests": []}', "no student name"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_a_malformed_file_is_reported_and_skipped(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    results_file(tmp_path, "good")
    subs, problems = read_results_dir(tmp_path)
    assert [s.student for s in subs] == ["good"]
    assert len(problems) == 1 and problems[0].skipped
    assert problems[0].source.endswith("bad.json")
    assert message in problems[0].message


def test_partial_files_are_accepted_with_warnings(tmp_path):
    path = results_file(tmp_path, "bo")
    data = json.loads(path.read_text())
    del data["student"], data["graded_at"]
    data["late"] = "yes"
    data["score"] = 99
    path.write_text(json.dumps(data))
    sub, problems = read_results_file(path)
    assert sub is not None and sub.student == "bo"  # named after the file
    assert sub.late is True and sub.score == 22.0  # the tests' sum wins over the stated score
    text = " | ".join(p.message for p in problems)
    assert not any(p.skipped for p in problems)
    for expected in ("no 'student' key", "graded_at", "'late' is not true/false", "differs"):
        assert expected in text


def test_an_ungradable_repository_row_has_no_score(tmp_path):
    sub, problems = read_results_file(
        results_file(tmp_path, "cy", error="repository not found: dlwp/hw-cy")
    )
    assert problems == [] and sub is not None
    assert sub.status == COULD_NOT_GRADE and sub.repository_problem
    assert not sub.has_grade and sub.result.tests == []


# -- the gradebook database ------------------------------------------------------------------


def dump(db: Path) -> list[str]:
    """Every table's schema and rows, as SQL text."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_ingesting_the_same_results_twice_changes_nothing(tmp_path):
    rd = tmp_path / "results"
    results_file(rd, "ada", passed=HALF, tampered=["tests/t.py"])
    results_file(rd, "bo")
    (rd / "broken.json").write_text('{"tests": [', encoding="utf-8")
    partial = results_file(rd, "cy")
    data = json.loads(partial.read_text())
    del data["graded_at"]  # accepted with a warning (an ingest problem that is not skipped)
    partial.write_text(json.dumps(data))
    db = tmp_path / "gb.sqlite3"
    first = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=db)
    before = dump(db)
    second = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=db)
    assert dump(db) == before  # every row of every table, ingest problems included
    assert (first.added, first.unchanged) == (3, 0)
    assert (second.added, second.unchanged) == (0, 3)
    with Gradebook(db) as gb:
        counts = {t: gb.count(t) for t in ("students", "submissions", "test_results")}
        assert counts == {"students": 3, "submissions": 3, "test_results": 12}
        assert sorted((Path(p.source).name, p.skipped) for p in gb.problems()) == [
            ("broken.json", True),
            ("cy.json", False),
        ]
    assert sum('INSERT INTO "tampered_files"' in line for line in before) == 1


def test_history_is_kept_and_the_current_submission_is_the_latest_graded(tmp_path):
    db = tmp_path / "gb.sqlite3"
    r1, r2, r3 = (tmp_path / f"round-{i}" for i in (1, 2, 3))
    results_file(r1, "ada", passed=set(), commit="1" * 40, status=COULD_NOT_GRADE)
    results_file(r2, "ada", passed=HALF, commit="2" * 40, graded_at=T0 + timedelta(days=1))
    # a regrade of the same commit (new grading time) adds a row too
    results_file(
        r2,
        "ada-regrade",
        passed=ALL,
        commit="2" * 40,
        graded_at=T0 + timedelta(days=2),
        filename="ada-regrade.json",
    )
    data = json.loads((r2 / "ada-regrade.json").read_text())
    data["student"] = "ada"
    write_json_atomic(data, r2 / "ada-regrade.json")
    # then the repository disappears: the last graded submission stays current
    results_file(r3, "ada", error="repository not found", graded_at=T0 + timedelta(days=3))
    report = build_scoreboard(results_dir=[r1, r2, r3], out_dir=tmp_path / "site", db_path=db)
    assert report.added == 4
    with Gradebook(db) as gb:
        (row,) = gb.students()
        assert len(row.history) == 4
        statuses = [s.status for s in row.history]
        assert statuses == [COULD_NOT_GRADE, GRADED, GRADED, COULD_NOT_GRADE]
        assert [s.repository_problem for s in row.history] == [False, False, False, True]
        assert row.current is row.history[2] and row.score == 22.0  # bonus included
        assert row.latest_attempt_failed and row.error == "repository not found"
        assert gb.current()["ada"].commit == "2" * 40
        assert [s.graded_at for s in gb.submissions("ada")] == [s.graded_at for s in row.history]
    page = (tmp_path / "site" / "students" / "ada.html").read_text()
    history = table_rows(page, "history")
    assert len(history) == 4  # newest first; the regrade is current
    cng = "could not grade (no submission, or it does not import)"
    assert [r[4] for r in history] == [cng, "graded", "graded", cng]
    assert "(current)" in history[1][0] and not any("(current)" in r[0] for r in history[2:])
    assert history[1][3] == "22 / 20" and "repository not found" in history[0][7]
    assert len(table_rows(page, "checks")) == 4


def test_test_results_and_flags_round_trip_through_the_database(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF, late=True, tampered=["a.py", "b.py"], feedback="Fix <it>")
    subs, _ = read_results_dir(rd)
    with Gradebook(tmp_path / "gb.sqlite3") as gb:
        gb.add(subs)
        (stored,) = gb.submissions()
    (orig,) = subs
    assert stored.result.tests == orig.result.tests
    assert (stored.late, stored.tampered, stored.commit) == (True, ("a.py", "b.py"), "a" * 40)
    assert (stored.graded_at, stored.committed_at) == (orig.graded_at, orig.committed_at)
    assert stored.result.by_tag() == orig.result.by_tag()


def test_a_database_at_an_older_schema_version_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = dbmod.connect(path)
    assert migrate(conn, target=1) == [1]
    conn.execute("INSERT INTO students (login, repo) VALUES ('ada', 'dlwp/hw-ada')")
    conn.execute(
        """INSERT INTO submissions (student_id, commit_sha, graded_at, grading_status, score,
           max_score, fingerprint, ingested_at)
           VALUES (1, 'abc1234', '2026-11-01T10:00:00+00:00', 'graded', 7, 20, 'f1',
                   '2026-11-01T10:00:00+00:00')"""
    )
    conn.execute(
        "INSERT INTO test_results VALUES (1, 0, '1.1', 'a check', 'add_batchnorm', 7, 20, "
        "'failed', 'Expected: ...', 'visible', '')"
    )
    conn.close()
    with pytest.raises(sqlite3.OperationalError):  # version 1 has no problems table
        sqlite3.connect(path).execute("SELECT * FROM ingest_problems")

    with Gradebook(path) as gb:
        assert schema_version(gb.db) == dbmod.SCHEMA_VERSION == 5
        (row,) = gb.students()
        assert (row.student, row.score, row.current.commit) == ("ada", 7.0, "abc1234")
        gb.add_problems([dbmod.Problem("x.json", "not valid JSON")])
        assert [p.source for p in gb.problems()] == ["x.json"]
        indexes = {r[0] for r in gb.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "submissions_by_student_time" in indexes
        view = gb.db.execute("SELECT student, score, commit_sha FROM current_submissions")
        assert view.fetchall() == [("ada", 7.0, "abc1234")]


def test_a_failed_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "gb.sqlite3"
    conn = dbmod.connect(path)
    migrate(conn, target=1)
    conn.close()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(dbmod, "MIGRATIONS", [dbmod.MIGRATIONS[0], broken, *dbmod.MIGRATIONS[2:]])
    with pytest.raises(RuntimeError, match="migration bug"):
        Gradebook(path)
    conn = sqlite3.connect(path)
    assert schema_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchone() is None


def test_a_newer_or_foreign_database_is_refused(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    with Gradebook(newer) as gb:
        gb.db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaError, match="newer"):
        Gradebook(newer)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SchemaError, match="not a usable gradebook"):
        Gradebook(junk)


# -- the board's statistics ----------------------------------------------------------------------


def small_board(tmp_path: Path) -> Board:
    rd = tmp_path / "r"
    results_file(rd, "full", passed=ALL, run_id="run-1")
    results_file(rd, "half", passed=HALF, run_id="run-1")
    results_file(rd, "none", passed=set(), run_id="run-1")
    results_file(rd, "crash", status=COULD_NOT_GRADE, run_id="run-1")
    results_file(rd, "gone", error="repository not found", run_id="run-1")
    results_file(
        rd,
        "late",
        passed=ALL - {"bonus: ManualBatchNorm1d matches"},
        late=True,
        graded_at=T0 + timedelta(days=2),
        run_id="run-2",
    )
    subs, problems = read_results_dir(rd)
    assert problems == []
    with Gradebook(tmp_path / "gb.sqlite3") as gb:
        gb.add(subs)
        return Board(gb.students())


def test_board_statistics(tmp_path):
    board = small_board(tmp_path)
    rows = {r.student: r for r in board.students}
    assert board.max_score == 20.0
    assert sorted(board.scores) == [0.0, 0.0, 10.0, 20.0, 22.0]  # "gone" has no score
    assert rows["gone"].score is None and rows["gone"].max_score == 20.0
    # nothing pushed (a repository problem) needs help as much as a file that does not import
    needing = {s for s, r in rows.items() if "needs-help" in r.flags}
    assert needing == {"half", "none", "crash", "gone"}
    assert {s for s, r in rows.items() if r.full_marks} == {"full", "late"}
    assert rows["late"].flags == ["full-marks", "late"]
    assert rows["gone"].flags == ["needs-help", "could-not-grade", "no-commit"]
    assert rows["crash"].flags == ["needs-help", "could-not-grade"]

    rates = {s.check.number: (s.passed, s.attempted) for s in board.check_stats()}
    # over the 4 fully graded students; the could-not-grade one is left out
    assert rates == {"1.1": (3, 4), "1.2": (3, 4), "3.1": (2, 4), "7.1": (1, 4)}
    (feedback,) = [s for s in board.check_stats() if s.check.number == "3.1"]
    assert feedback.common_feedback == (("Expected: x", 2),)
    tags = {t.tag: (t.points, t.max_points, t.students_full) for t in board.tag_stats()}
    assert tags["add_batchnorm"] == (30.0, 40.0, 3)
    assert tags["clip_gradients"] == (20.0, 40.0, 2)
    assert board.tags == ["add_batchnorm", "clip_gradients", "bonus"]

    timeline = board.timeline()
    assert [p.run_id for p in timeline] == ["run-1", "run-2"]
    assert [p.graded for p in timeline] == [4, 5]  # two runs: T0 and T0 + 2 days
    assert [p.mean for p in timeline] == [pytest.approx(32 / 4), pytest.approx(52 / 5)]
    assert [p.full_marks for p in timeline] == [1, 2]


def test_scores_over_time_follow_each_students_latest_graded_submission(tmp_path):
    rd1, rd2 = tmp_path / "r1", tmp_path / "r2"
    results_file(rd1, "ada", passed=set())
    results_file(rd1, "bo", passed=HALF)
    results_file(rd2, "ada", passed=ALL, commit="b" * 40, graded_at=T0 + timedelta(days=3))
    with Gradebook(tmp_path / "gb.sqlite3") as gb:
        for rd in (rd1, rd2):
            gb.add(read_results_dir(rd)[0])
        board = Board(gb.students())
    first, second = board.timeline()
    assert (first.graded, first.mean, first.full_marks) == (2, 5.0, 0)
    assert (second.graded, second.mean, second.full_marks, second.submissions_in_round) == (
        2,
        16.0,
        1,
        1,
    )


# -- exports -------------------------------------------------------------------------------------


def test_lms_csv_layout(tmp_path):
    board = small_board(tmp_path)
    from autograder.scoreboard.exports import write_lms_csv, write_test_matrix

    with write_lms_csv(board, tmp_path / "lms.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == LMS_COLUMNS
        rows = {r["student"]: r for r in reader}
    # the default bonus policy: the score is capped at the maximum, the bonus in its own column
    full = rows["full"]
    assert (full["score"], full["max_score"], full["percent"], full["bonus"]) == (
        "20",
        "20",
        "100.0",
        "2",
    )
    assert rows["crash"]["score"] == "0" and rows["crash"]["status"] == COULD_NOT_GRADE
    # nothing graded: the same status as in summary.csv, and no score to import
    assert rows["gone"]["score"] == "" and rows["gone"]["status"] == COULD_NOT_GRADE
    assert rows["late"]["late"] == "true" and rows["full"]["late"] == "false"
    assert {r["status"] for r in rows.values()} <= set(STATUSES)

    with write_test_matrix(board, tmp_path / "m.csv").open(newline="") as f:
        matrix = list(csv.reader(f))
    assert matrix[0][:4] == ["student", "status", "score", "max_score"]
    assert len(matrix[0]) == 4 + 4 and matrix[1][0] == "(max)"
    by_student = {r[0]: r for r in matrix[2:]}
    assert by_student["half"][4:] == ["4", "6", "0", "0"]
    assert by_student["gone"][2:] == ["", "20", "", "", "", ""]
    # does not import: the grade is 0, but no check ran (empty, not 0)
    assert by_student["crash"][1:] == [COULD_NOT_GRADE, "0", "20", "", "", "", ""]


# -- the site ------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


class _Rows(HTMLParser):
    """The text of each cell of each body row of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth, self.in_body = table_id, 0, False
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth == 1 and tag == "tbody":
            self.in_body = True
        elif self.depth == 1 and self.in_body and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and self.in_body and tag == "td":
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag == "tbody" and self.depth == 1:
            self.in_body = False

    def handle_data(self, data):
        if self.depth and self.in_body and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def table_rows(html: str, table_id: str) -> list[list[str]]:
    parser = _Rows(table_id)
    parser.feed(html)
    return [[" ".join(cell.split()) for cell in row] for row in parser.rows]


def test_student_controlled_strings_are_escaped(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    path = results_file(
        rd,
        HOSTILE,
        passed=HALF,
        feedback=HOSTILE_FEEDBACK,
        filename="evil.json",
        tampered=["<i>x</i>.py"],
    )
    data = json.loads(path.read_text())
    data.update(repo='evil/"><script>alert(4)</script>', commit="javascript:alert(5)")
    write_json_atomic(data, path)
    report = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=tmp_path / "g")
    site = tmp_path / "site"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 4  # index, class, two students
    for page in pages:
        html = page.read_text()
        for needle in (
            "alert(1)</script>",
            "alert(3)</script>",
            "alert(4)</script>",
            "<img src=x",
            "<b>bold</b>",
            "<i>x</i>",
        ):
            assert needle not in html, (page.name, needle)
        tags = parse_tags(html)
        scripts = [a for t, a in tags if t == "script"]
        assert len(scripts) == (1 if page.name == "index.html" else 0), page.name
        for t, attrs in tags:
            for attr in ("href", "src"):
                value = (attrs.get(attr) or "").strip().lower()
                assert not value.startswith(("javascript:", "data:", "//", "http:")), (t, value)
                if t in ("img", "script", "link", "iframe"):
                    assert not value.startswith("https:"), "no network resources"
    evil_page = report.site.student_pages[HOSTILE]
    assert evil_page.parent == site / "students" and re.fullmatch(r"[\w.-]+\.html", evil_page.name)
    evil = evil_page.read_text()
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;&lt;b&gt;bold&lt;/b&gt; &amp;" in evil
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil
    index = (site / "index.html").read_text()
    assert f'href="students/{evil_page.name}"' in index


def test_student_file_names_and_links_are_safe():
    assert student_slug("ada-lovelace") == "ada-lovelace"
    slug = student_slug(HOSTILE)
    assert re.fullmatch(r"[\w.-]+", slug) and slug != student_slug("<script>alert(2)</script>")
    assert re.fullmatch(r"etc_passwd-[0-9a-f]{10}", student_slug("../../etc/passwd"))
    assert repo_url("dlwp/hw-ada") == "https://github.com/dlwp/hw-ada"
    assert repo_url("https://github.com/dlwp/hw-ada.git") == "https://github.com/dlwp/hw-ada"
    assert repo_url("javascript:alert(1)") == repo_url('a/"b') == ""


def test_pages_are_self_contained(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=tmp_path / "gb")
    site = tmp_path / "site"
    for page in sorted(site.rglob("*.html")):
        html = page.read_text()
        assert "<link" not in html and "cdn" not in html.lower()
        tags = parse_tags(html)
        (csp,) = [a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy"]
        assert "default-src 'none'" in str(csp) and "unsafe-inline" not in str(csp)
        for t, attrs in tags:
            if t == "img":
                assert (page.parent / str(attrs["src"])).is_file()
            if t == "a" and not str(attrs.get("href", "")).startswith("https://github.com/"):
                target = str(attrs["href"]).split("#")[0]
                assert target == "" or (page.parent / target).is_file(), target
    assert sorted(p.name for p in (site / "figures").iterdir()) == [
        "pass_rate_checks.png",
        "pass_rate_functions.png",
        "score_histogram.png",
        "scores_over_time.png",
    ]
    assert (site / "figures" / "score_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_results_directory_builds_an_empty_board(tmp_path):
    (tmp_path / "r").mkdir()
    report = build_scoreboard(results_dir=tmp_path / "r", out_dir=tmp_path / "site")
    assert report.students == 0 and report.site.figures == []
    assert report.db_path == tmp_path / "r" / "gradebook.sqlite3"
    assert "No graded submission yet" in report.site.class_page.read_text()


# -- the command ---------------------------------------------------------------------------------


def test_command_reports_bad_files_in_its_output_and_on_the_site(tmp_path, capsys):
    rd = tmp_path / "results"
    results_file(rd, "ada")
    (rd / "broken.json").write_text('{"student": "broken", "tests": [', encoding="utf-8")
    (rd / "summary.csv").write_text("student,score\nada,22\n", encoding="utf-8")
    site = tmp_path / "site"
    code = cli_main(["scoreboard", str(rd), "--out", str(site), "--db", str(tmp_path / "g.db")])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 new submission" in out and "broken.json" in out and "not valid JSON" in out
    index = (site / "index.html").read_text()
    assert "broken.json" in index and 'id="problems"' in index
    assert "broken.json" in (site / "class.html").read_text()


def test_command_usage_errors(tmp_path, capsys):
    assert cli_main(["scoreboard", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["scoreboard", str(tmp_path)])  # --out is required


# -- the synthetic class -------------------------------------------------------------------------


def test_the_synthetic_class_is_varied_and_uses_the_real_checks(tmp_path):
    made = make_synthetic_class(tmp_path / "class", students=36, rounds=4, seed=1)
    assert len(made.students) == 36 and len(made.round_dirs) == 4
    for rd in made.round_dirs:
        assert (rd / "summary.csv").is_file()
    report = build_scoreboard(
        results_dir=made.round_dirs, out_dir=tmp_path / "site", db_path=tmp_path / "gb"
    )
    assert report.problems == [] and report.students == 36
    with Gradebook(tmp_path / "gb") as gb:
        board = Board(gb.students())
    statuses = {r.status for r in board.students}
    assert (
        {GRADED, COULD_NOT_GRADE}
        <= statuses | {s.status for r in board.students for s in r.history}
        <= set(STATUSES)
    )
    assert board.count("full-marks") >= 3 and board.count("no-commit") >= 1
    assert board.count("late") >= 1 and board.count("tampered") >= 1
    partial = [r for r in board.graded_rows if r.fraction is not None and 0 < r.fraction < 1]
    assert len(partial) >= 5
    assert len(board.timeline()) == 4
    catalogue = {c.name for c in load_catalogue().checks}
    assert {c.name for c in board.checks} == catalogue
    # the database's view of current submissions follows the same rule as the model
    with Gradebook(tmp_path / "gb") as gb:
        view = dict(gb.db.execute("SELECT student, id FROM current_submissions").fetchall())
    assert view == {r.student: r.current.id for r in board.students if r.current is not None}


def test_rows_shaped_as_grade_repos_writes_them(tmp_path):
    from autograder.github.student import RepoResult, could_not_grade_results

    def write(rd: Path, when: datetime, results: dict[str, Any], **kw: Any) -> None:
        row = RepoResult(
            student="ada", repo="dlwp/hw-ada", results=results, graded_at=when.isoformat(), **kw
        )
        write_json_atomic(row.to_json(), rd / "ada.json")

    rds = [tmp_path / f"round-{i}" for i in range(4)]
    committed = {"commit": "c" * 40, "committed_at": T0.isoformat()}
    missing = "repository not found: dlwp/hw-ada"
    write(rds[0], T0, could_not_grade_results(missing), error=missing)
    no_import = GradingResult(checks(set()), status=COULD_NOT_GRADE, reason="SyntaxError: line 3")
    write(
        rds[1],
        T0 + timedelta(days=1),
        to_gradescope(no_import),
        error="could_not_grade: SyntaxError: line 3",
        **committed,
    )
    write(rds[2], T0 + timedelta(days=2), to_gradescope(GradingResult(checks(HALF))), **committed)
    timeout = "the grader did not finish in 900 s"
    write(
        rds[3],
        T0 + timedelta(days=3),
        could_not_grade_results(timeout, status="grader_error"),
        error=f"grader_error: {timeout}",
        **committed,
    )

    def board_after(n: int) -> Board:
        with Gradebook(tmp_path / f"gb{n}") as gb:
            for rd in rds[:n]:
                gb.add(read_results_dir(rd)[0])
            return Board(gb.students())

    (row,) = board_after(1).students
    assert (row.status, row.score) == (COULD_NOT_GRADE, None)
    assert row.flags == ["needs-help", "could-not-grade", "no-commit"]
    assert row.error == missing
    (row,) = board_after(2).students
    assert (row.status, row.score, row.max_score) == (COULD_NOT_GRADE, 0.0, 20.0)
    assert row.flags == ["needs-help", "could-not-grade"] and row.error is None
    board = board_after(4)
    (row,) = board.students
    assert [s.status for s in row.history] == [
        COULD_NOT_GRADE,
        COULD_NOT_GRADE,
        GRADED,
        GRADER_ERROR,
    ]
    assert row.current is row.history[2] and (row.score, row.max_score) == (10.0, 20.0)
    assert row.flags == ["needs-help", "grader-error"] and row.error == f"grader_error: {timeout}"
    # the placeholder "Could not grade the repository" entry is not one of the checks
    assert [c.number for c in board.checks] == ["1.1", "1.2", "3.1", "7.1"]
    assert board.max_score == 20.0


# -- bad input never stops the board -----------------------------------------------------------


def _with(path: Path, edit) -> Path:
    """Rewrite a results file's text through ``edit``."""
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"score": 4.0', '"score": NaN', 1), "NaN is not a number"),
        (lambda t: t.replace('"score": 4.0', '"score": Infinity', 1), "Infinity is not"),
        (lambda t: t.replace('"max_score": 4.0', '"max_score": -Infinity', 1), "-Infinity"),
        (lambda t: t.replace('"score": 4.0', '"score": 1e999', 1), "non-finite number inf"),
        (lambda t: t.replace('"max_score": 4.0', '"max_score": -1e999', 1), "number -inf"),
        (lambda t: t.replace('"score": 4.0', '"score": "nan"', 1), "score is not a finite"),
        (
            lambda t: t.replace('"execution_time": 0.0', '"execution_time": "inf"', 1),
            "'execution_time' is not a finite number",
        ),
        (  # every score finite, their sum is not
            lambda t: re.sub(r'"score": [0-9.]+', '"score": 1e308', t),
            "the tests' total score is not a finite number",
        ),
    ],
)
def test_non_finite_numbers_are_reported_and_skipped(tmp_path, edit, message):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    bad = _with(results_file(rd, "nan"), edit)
    assert bad.read_text() != results_file(tmp_path, "nan").read_text()  # the edit applied
    results_file(rd, "zed")
    subs, problems = read_results_dir(rd)
    assert [s.student for s in subs] == ["ada", "zed"]
    (problem,) = problems
    assert problem.skipped and problem.source.endswith("nan.json")
    assert message in problem.message


def test_a_nan_file_does_not_roll_back_the_good_files_of_the_run(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    _with(results_file(rd, "bad"), lambda t: t.replace('"score": 4.0', '"score": NaN', 1))
    results_file(rd, "zed", passed=HALF)
    db = tmp_path / "gb.sqlite3"
    code = cli_main(["scoreboard", str(rd), "--out", str(tmp_path / "site"), "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0 and "2 new submission" in out and "bad.json" in out
    with Gradebook(db) as gb:
        assert {r.student: r.score for r in gb.students()} == {"ada": 22.0, "zed": 10.0}
        assert [Path(p.source).name for p in gb.problems()] == ["bad.json"]


def test_deep_nesting_is_a_malformed_file_not_a_crash(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    (rd / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    inner = '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    (rd / "deep2.json").write_text(
        '{"student": "x", "tests": [], "extra_data": ' + inner + "}", encoding="utf-8"
    )
    subs, problems = read_results_dir(rd)
    assert [s.student for s in subs] == ["ada"]
    assert [(Path(p.source).name, p.skipped) for p in problems] == [
        ("deep.json", True),
        ("deep2.json", True),
    ]
    assert all(f"nested more than {MAX_DEPTH} levels" in p.message for p in problems)


def test_any_exception_in_one_file_is_reported_with_its_type(tmp_path, monkeypatch):
    rd = tmp_path / "r"
    for name in ("ada", "boom", "zed"):
        results_file(rd, name)
    real = ingestmod.parse_submission

    def parse(data, **kw):
        if data.get("student") == "boom":
            raise ZeroDivisionError("a bug in a parser")
        return real(data, **kw)

    monkeypatch.setattr(ingestmod, "parse_submission", parse)
    report = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=tmp_path / "g")
    assert report.students == 2
    (problem,) = report.problems
    assert problem.skipped and problem.source.endswith("boom.json")
    assert problem.message == "could not be read: ZeroDivisionError: a bug in a parser"


def test_a_submission_the_database_refuses_is_skipped_alone(tmp_path):
    rd = tmp_path / "r"
    for name in ("ada", "bad", "zed"):
        results_file(rd, name)
    subs, _ = read_results_dir(rd)
    subs[1].result.tests[2].score = float("nan")  # what ingest rejects, should it slip through
    with Gradebook(tmp_path / "gb.sqlite3") as gb:
        report = gb.add(subs)
        assert (report.added, report.unchanged) == (2, 0)
        (problem,) = report.problems
        assert problem.source.endswith("bad.json") and "IntegrityError" in problem.message
        assert subs[1].id is None
        assert [r.student for r in gb.students()] == ["ada", "zed"]
        assert gb.count("test_results") == 8  # nothing of the refused one is left behind
        assert gb.count("students") == 2


# -- the gradebook file ------------------------------------------------------------------------


def test_a_db_path_that_is_a_directory_or_unusable_is_a_clear_error(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    site = tmp_path / "site"
    (tmp_path / "a-file").write_text("x")
    for db, message in [
        (tmp_path, "is a directory; the gradebook is a file"),
        (tmp_path / "a-file" / "gb.sqlite3", "cannot create the gradebook's directory"),
    ]:
        assert cli_main(["scoreboard", str(rd), "--out", str(site), "--db", str(db)]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and "Traceback" not in captured.err
        assert captured.out == ""
    assert not site.exists()


def test_a_read_only_gradebook_is_a_clear_error_and_nothing_is_written(tmp_path, monkeypatch):
    db = tmp_path / "gb.sqlite3"
    Gradebook(db).close()
    before = dump(db)

    def read_only(path):  # root can write any file: open it read-only instead of chmod
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    monkeypatch.setattr(dbmod, "connect", read_only)
    with pytest.raises(GradebookError, match=r"cannot write the gradebook .*readonly"):
        Gradebook(db)
    rd = tmp_path / "r"
    results_file(rd, "ada")
    assert cli_main(["scoreboard", str(rd), "--out", str(tmp_path / "s"), "--db", str(db)]) == 2
    assert dump(db) == before


# -- logins are case-insensitive -----------------------------------------------------------------


def test_logins_differing_in_case_are_one_student(tmp_path):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    results_file(r1, "Ada", passed=HALF)
    results_file(r2, "ada", passed=ALL, commit="b" * 40, graded_at=T0 + timedelta(days=1))
    site = tmp_path / "site"
    report = build_scoreboard(results_dir=[r1, r2], out_dir=site, db_path=tmp_path / "g")
    assert report.students == 1
    with Gradebook(tmp_path / "g") as gb:
        (row,) = gb.students()
        assert row.student == "ada"  # the spelling of the newest submission
        assert [s.score for s in row.history] == [10.0, 22.0]
        assert len(gb.submissions("ADA")) == 2
        # an older round ingested later does not change the displayed spelling
        results_file(tmp_path / "r0", "ADA", passed=set(), graded_at=T0 - timedelta(days=1))
        gb.add(read_results_dir(tmp_path / "r0")[0])
        assert [r.student for r in gb.students()] == ["ada"]
        assert len(gb.submissions("Ada")) == 3
    assert sorted(p.name for p in (site / "students").iterdir()) == ["ada.html"]


def test_page_names_never_collide_ignoring_case():
    assert student_slug("Ada") == student_slug("ada") == student_slug(" ADA ") == "ada"
    assert unique_slugs(["X", "x", "x-2"]) == {"X": "x", "x": "x-2", "x-2": "x-2-2"}
    slugs = unique_slugs(["Ünal", "ünal", "a<b", "a>b", "a_b"])
    assert len({v.lower() for v in slugs.values()}) == 5
    assert all(re.fullmatch(r"[a-z0-9_.-]+", v) for v in slugs.values())


def test_a_version_3_gradebook_merges_logins_differing_in_case(tmp_path):
    path = tmp_path / "v3.sqlite3"
    conn = dbmod.connect(path)
    migrate(conn, target=3)
    for sid, login, when, fp in [
        (1, "Ada", "2026-11-01T10:00:00+00:00", "f1"),
        (2, "ada", "2026-11-02T10:00:00+00:00", "f2"),
        (2, "ada", "2026-11-03T10:00:00+00:00", "f1"),  # the same content as Ada's f1
        (3, "bo", "2026-11-01T10:00:00+00:00", "f3"),
    ]:
        conn.execute("INSERT OR IGNORE INTO students (id, login) VALUES (?, ?)", (sid, login))
        conn.execute(
            """INSERT INTO submissions (student_id, graded_at, grading_status, score, max_score,
               fingerprint, ingested_at) VALUES (?, ?, 'graded', 1, 20, ?, ?)""",
            (sid, when, fp, when),
        )
    conn.execute(
        "INSERT INTO test_results VALUES (3, 0, '1.1', 'a check', 'add_batchnorm', 1, 4, "
        "'failed', '', 'visible', '')"
    )
    conn.close()
    with Gradebook(path) as gb:
        assert schema_version(gb.db) == 5
        rows = {r.student: [s.fingerprint for s in r.history] for r in gb.students()}
        assert rows == {"ada": ["f1", "f2"], "bo": ["f3"]}
        assert gb.count("test_results") == 0  # the duplicate's checks went with it
        with pytest.raises(sqlite3.IntegrityError):
            gb.db.execute("INSERT INTO students (login, login_key) VALUES ('ADA', 'ada')")


# -- the site directory ------------------------------------------------------------------------


def test_a_foreign_out_directory_is_refused_and_left_alone(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    out = tmp_path / "mine"
    (out / "students").mkdir(parents=True)
    (out / "students" / "roster.html").write_text("my own page")
    (out / "index.html").write_text("my own index")
    db = tmp_path / "gb.sqlite3"
    assert cli_main(["scoreboard", str(rd), "--out", str(out), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "not empty and was not written by the scoreboard" in err
    assert (out / "students" / "roster.html").read_text() == "my own page"
    assert (out / "index.html").read_text() == "my own index"
    assert sorted(p.name for p in out.rglob("*")) == ["index.html", "roster.html", "students"]
    assert not db.exists()  # refused before anything was ingested

    (tmp_path / "a-file").write_text("x")
    assert cli_main(["scoreboard", str(rd), "--out", str(tmp_path / "a-file")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["scoreboard", str(rd), "--out", str(tmp_path / "empty")]) == 0


def test_a_rebuild_removes_only_the_stale_files_it_wrote(tmp_path):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    results_file(r1, "ada")
    results_file(r1, "bo", passed=HALF)
    results_file(r2, "gone", error="repository not found")
    site = tmp_path / "site"
    first = build_scoreboard(results_dir=r1, out_dir=site, db_path=tmp_path / "g1")
    assert len(first.site.figures) == 4 and first.site.removed == []
    (site / "notes.txt").write_text("keep me")
    (site / "students" / "extra.html").write_text("keep me too")
    (site / "figures" / "mine.png").write_bytes(b"png")
    # another gradebook: ada and bo are not in it, and nothing is graded (no figures)
    second = build_scoreboard(results_dir=r2, out_dir=site, db_path=tmp_path / "g2")
    assert sorted(p.relative_to(site).as_posix() for p in second.site.removed) == [
        "figures/pass_rate_checks.png",
        "figures/pass_rate_functions.png",
        "figures/score_histogram.png",
        "figures/scores_over_time.png",
        "students/ada.html",
        "students/bo.html",
    ]
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        MANIFEST,
        "class.html",
        "exports/lms_grades.csv",
        "exports/test_matrix.csv",
        "figures/mine.png",
        "index.html",
        "notes.txt",
        "students/extra.html",
        "students/gone.html",
    ]
    assert "removed 6 file(s)" in second.summary()


def test_a_manifest_never_deletes_outside_the_board_files(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    site = tmp_path / "site"
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (site / "README.md").write_text("precious")
    manifest = json.loads((site / MANIFEST).read_text())
    manifest["files"] += ["../victim.txt", str(victim), "README.md", "students/../../victim.txt"]
    (site / MANIFEST).write_text(json.dumps(manifest))
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    assert victim.read_text() == "precious" and (site / "README.md").read_text() == "precious"

    (site / MANIFEST).write_text("{not json")
    with pytest.raises(SiteError, match="cannot be read"):
        build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    assert (site / "index.html").is_file()


@pytest.mark.parametrize("step", ["write_figures", "write_lms_csv"])
def test_a_build_interrupted_part_way_into_an_empty_directory_can_be_rerun(
    tmp_path, monkeypatch, step
):
    rd = tmp_path / "r"
    results_file(rd, "ada")
    results_file(rd, "bo", passed=HALF)
    site = tmp_path / "site"
    site.mkdir()
    real = getattr(sitemod, step)

    def interrupted(*args, **kwargs):
        if step == "write_figures":  # one figure written, then the build dies
            out_dir = args[1]
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / FIGURE_NAMES[0]).write_bytes(b"half a png")
        raise RuntimeError("killed part-way")

    monkeypatch.setattr(sitemod, step, interrupted)
    with pytest.raises(RuntimeError, match="killed part-way"):
        build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    assert (site / "students" / "ada.html").is_file()  # the directory is no longer empty
    monkeypatch.setattr(sitemod, step, real)
    report = build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    assert report.site.removed == []
    assert {f.name for f in report.site.figures} == set(FIGURE_NAMES)
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == sorted(
        [
            MANIFEST,
            "class.html",
            "exports/lms_grades.csv",
            "exports/test_matrix.csv",
            *(f"figures/{name}" for name in FIGURE_NAMES),
            "index.html",
            "students/ada.html",
            "students/bo.html",
        ]
    )
    manifest = json.loads((site / MANIFEST).read_text())
    assert sorted(manifest["files"]) == [f for f in files if f != MANIFEST]
    assert (site / "figures" / FIGURE_NAMES[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
