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
from autograder.formats import to_gradescope, write_json_atomic
from autograder.results import COULD_NOT_GRADE, GRADED, GradingResult
from autograder.results import TestResult as CheckResult
from autograder.scoreboard import db as dbmod
from autograder.scoreboard.command import build_scoreboard
from autograder.scoreboard.db import Gradebook, SchemaError, migrate, schema_version
from autograder.scoreboard.exports import LMS_COLUMNS
from autograder.scoreboard.ingest import read_results_dir, read_results_file
from autograder.scoreboard.model import NOT_GRADED, Board
from autograder.scoreboard.site import repo_url, student_slug
from autograder.scoreboard.synthetic import load_catalogue, make_synthetic_class

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
) -> Path:
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
    assert sub.status == NOT_GRADED and not sub.has_grade and sub.result.tests == []


# -- the gradebook database ------------------------------------------------------------------


def test_ingesting_the_same_results_twice_changes_nothing(tmp_path):
    rd = tmp_path / "results"
    results_file(rd, "ada", passed=HALF)
    results_file(rd, "bo")
    db = tmp_path / "gb.sqlite3"
    first = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=db)
    with Gradebook(db) as gb:
        counts = {t: gb.count(t) for t in ("students", "submissions", "test_results")}
    second = build_scoreboard(results_dir=rd, out_dir=tmp_path / "site", db_path=db)
    with Gradebook(db) as gb:
        assert {t: gb.count(t) for t in counts} == counts
    assert (first.added, first.unchanged) == (2, 0)
    assert (second.added, second.unchanged) == (0, 2)
    assert counts == {"students": 2, "submissions": 2, "test_results": 8}


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
        assert [s.status for s in row.history] == [COULD_NOT_GRADE, GRADED, GRADED, NOT_GRADED]
        assert row.current is row.history[2] and row.score == 22.0  # bonus included
        assert row.latest_attempt_failed and row.error == "repository not found"
        assert gb.current()["ada"].commit == "2" * 40
        assert [s.graded_at for s in gb.submissions("ada")] == [s.graded_at for s in row.history]
    page = (tmp_path / "site" / "students" / "ada.html").read_text()
    assert page.count("<tr") >= 4 + 4  # four checks and four history rows
    assert "repository not found" in page


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
        assert schema_version(gb.db) == dbmod.SCHEMA_VERSION == 3
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
    results_file(rd, "full", passed=ALL)
    results_file(rd, "half", passed=HALF)
    results_file(rd, "none", passed=set())
    results_file(rd, "crash", status=COULD_NOT_GRADE)
    results_file(rd, "gone", error="repository not found")
    results_file(
        rd,
        "late",
        passed=ALL - {"bonus: ManualBatchNorm1d matches"},
        late=True,
        graded_at=T0 + timedelta(days=2),
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
    assert {s for s, r in rows.items() if "needs-help" in r.flags} == {"half", "none", "crash"}
    assert {s for s, r in rows.items() if r.full_marks} == {"full", "late"}
    assert rows["late"].flags == ["full-marks", "late"]
    assert rows["gone"].flags == ["error"] and rows["crash"].flags[-1] == "could-not-grade"

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
    assert [p.graded for p in timeline] == [4, 5]  # two rounds: T0 and T0 + 2 days
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
    assert (rows["full"]["score"], rows["full"]["max_score"], rows["full"]["percent"]) == (
        "22",
        "20",
        "110.0",
    )
    assert rows["crash"]["score"] == "0" and rows["crash"]["status"] == COULD_NOT_GRADE
    assert rows["gone"]["score"] == "" and rows["gone"]["status"] == NOT_GRADED
    assert rows["late"]["late"] == "yes" and rows["full"]["late"] == "no"

    with write_test_matrix(board, tmp_path / "m.csv").open(newline="") as f:
        matrix = list(csv.reader(f))
    assert matrix[0][:4] == ["student", "status", "score", "max_score"]
    assert len(matrix[0]) == 4 + 4 and matrix[1][0] == "(max)"
    by_student = {r[0]: r for r in matrix[2:]}
    assert by_student["half"][4:] == ["4", "6", "0", "0"]
    assert by_student["gone"][4:] == ["", "", "", ""]


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
    assert student_slug("../../etc/passwd").startswith("etc_passwd-") or "/" not in student_slug(
        "../../etc/passwd"
    )
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
    assert {GRADED, COULD_NOT_GRADE, NOT_GRADED} <= statuses | {
        s.status for r in board.students for s in r.history
    }
    assert board.count("full-marks") >= 3
    assert board.count("late") >= 1 and board.count("tampered") >= 1 and board.count("error") >= 1
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
    from autograder.grade_repos import RepoResult, could_not_grade_results

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
    assert (row.status, row.score, row.flags) == (NOT_GRADED, None, ["error"])
    assert row.error == missing
    (row,) = board_after(2).students
    assert (row.status, row.score, row.max_score) == (COULD_NOT_GRADE, 0.0, 20.0)
    assert row.flags == ["needs-help", "could-not-grade"] and row.error is None
    board = board_after(4)
    (row,) = board.students
    assert [s.status for s in row.history] == [NOT_GRADED, COULD_NOT_GRADE, GRADED, "grader_error"]
    assert row.current is row.history[2] and (row.score, row.max_score) == (10.0, 20.0)
    assert row.flags == ["needs-help", "grader-error"] and row.error == f"grader_error: {timeout}"
    # the placeholder "Could not grade the repository" entry is not one of the checks
    assert [c.number for c in board.checks] == ["1.1", "1.2", "3.1", "7.1"]
    assert board.max_score == 20.0
