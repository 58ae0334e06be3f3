"""Scoreboard: course policies (late penalty, extensions, bonus policy, manual points), grading
runs, the similarity report's flags, written answers and tampering on the board and in the
exports."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from autograder.cli import main as cli_main
from autograder.grading.results import COULD_NOT_GRADE, GRADED, STATUSES
from autograder.scoreboard import db as dbmod
from autograder.scoreboard.command import build_scoreboard
from autograder.scoreboard.db import Gradebook, migrate, schema_version
from autograder.scoreboard.exports import BONUS_POLICIES, grade
from autograder.scoreboard.figures import scores_over_time, time_limits
from autograder.scoreboard.ingest import read_results_dir, read_results_file
from autograder.scoreboard.model import Board
from autograder.scoreboard.similarity_flags import GENERATOR
from tests.test_scoreboard import ALL, HALF, T0, results_file, table_rows

BONUS = "bonus: ManualBatchNorm1d matches"
NO_BONUS = ALL - {BONUS}  # 20 of 20
DEADLINE = T0 - timedelta(hours=2)


def lms(site: Path) -> dict[str, dict[str, str]]:
    with (site / "exports" / "lms_grades.csv").open(newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def page(site: Path, student: str) -> str:
    return (site / "students" / f"{student}.html").read_text(encoding="utf-8")


# -- a new row only for a change; rounds are grading runs ------------------------------------


def test_regrading_an_unchanged_commit_adds_no_row(tmp_path):
    db = tmp_path / "gb.sqlite3"
    rounds = [tmp_path / f"round-{i}" for i in range(1, 6)]
    results_file(rounds[0], "ada", passed=HALF, commit="a" * 40, run_id="r1")
    # the same commit graded again in later runs (e.g. with --force): nothing new
    results_file(
        rounds[1],
        "ada",
        passed=HALF,
        commit="a" * 40,
        run_id="r2",
        graded_at=T0 + timedelta(days=1),
    )
    results_file(
        rounds[2],
        "ada",
        passed=HALF,
        commit="a" * 40,
        run_id="r3",
        graded_at=T0 + timedelta(days=2),
    )
    # a new grader version, then a new commit: a row each
    path = results_file(
        rounds[3],
        "ada",
        passed=HALF,
        commit="a" * 40,
        run_id="r4",
        graded_at=T0 + timedelta(days=3),
    )
    data = json.loads(path.read_text())
    data["grader_version"] = "1.1.0"
    path.write_text(json.dumps(data))
    results_file(
        rounds[4], "ada", passed=ALL, commit="b" * 40, run_id="r5", graded_at=T0 + timedelta(days=4)
    )
    report = build_scoreboard(results_dir=rounds, out_dir=tmp_path / "site", db_path=db)
    assert (report.added, report.unchanged) == (3, 2)
    with Gradebook(db) as gb:
        (row,) = gb.students()
        assert [s.run_id for s in row.history] == ["r1", "r4", "r5"]
        assert [s.grader_version for s in row.history] == ["1.0.0", "1.1.0", "1.0.0"]
        board = Board(gb.students())
    assert [p.run_id for p in board.timeline()] == ["r1", "r4", "r5"]
    # ingesting everything again changes nothing either
    again = build_scoreboard(results_dir=rounds, out_dir=tmp_path / "site", db_path=db)
    assert (again.added, again.unchanged) == (0, 5)


def test_a_changed_score_late_flag_or_deadline_on_the_same_commit_is_a_new_row(tmp_path):
    r1, r2, r3 = (tmp_path / f"r{i}" for i in (1, 2, 3))
    results_file(r1, "bo", passed=HALF, run_id="r1")
    results_file(r2, "bo", passed=HALF, late=True, run_id="r2", graded_at=T0 + timedelta(days=1))
    results_file(
        r3,
        "bo",
        passed=HALF,
        late=True,
        run_id="r3",
        graded_at=T0 + timedelta(days=2),
        deadline=(T0 + timedelta(days=5)).isoformat(),
    )
    report = build_scoreboard(
        results_dir=[r1, r2, r3], out_dir=tmp_path / "s", db_path=tmp_path / "g"
    )
    assert (report.added, report.unchanged) == (3, 0)


def test_grading_runs_are_rounds_whatever_their_timing(tmp_path):
    rd = tmp_path / "r"
    # two runs ten minutes apart, and one run whose gradings span three hours
    results_file(rd, "ada", passed=HALF, run_id="run-a", graded_at=T0)
    results_file(rd, "bo", passed=ALL, run_id="run-b", graded_at=T0 + timedelta(minutes=10))
    results_file(rd, "cy", passed=set(), run_id="run-c", graded_at=T0 + timedelta(hours=5))
    results_file(rd, "di", passed=ALL, run_id="run-c", graded_at=T0 + timedelta(hours=8))
    subs, problems = read_results_dir(rd)
    assert problems == []
    with Gradebook(tmp_path / "gb") as gb:
        gb.add(subs)
        board = Board(gb.students())
    points = board.timeline()
    assert [(p.run_id, p.submissions_in_round, p.graded) for p in points] == [
        ("run-a", 1, 1),
        ("run-b", 1, 2),
        ("run-c", 2, 4),
    ]
    assert points[-1].at == T0 + timedelta(hours=8)


def test_files_without_a_run_id_form_one_run_per_results_directory(tmp_path):
    r1, r2 = tmp_path / "round-1", tmp_path / "round-2"
    results_file(r1, "ada", passed=HALF)
    results_file(r1, "bo", passed=HALF, graded_at=T0 + timedelta(hours=3))
    results_file(r2, "ada", passed=ALL, commit="b" * 40, graded_at=T0 + timedelta(days=1))
    build_scoreboard(results_dir=[r1, r2], out_dir=tmp_path / "s", db_path=tmp_path / "g")
    with Gradebook(tmp_path / "g") as gb:
        runs = [p.run_id for p in Board(gb.students()).timeline()]
    assert len(runs) == 2 and runs[0].startswith(str(r1)) and runs[1].startswith(str(r2))
    assert " ingested " in runs[0]


def test_the_time_axis_fits_the_runs_there_are(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF, run_id="only")
    with Gradebook(tmp_path / "gb") as gb:
        gb.add(read_results_dir(rd)[0])
        board = Board(gb.students())
    made = scores_over_time(board)
    assert made is not None
    fig = made[0]
    from matplotlib.dates import num2date

    low, high = (num2date(x) for x in fig.axes[0].get_xlim())
    assert T0 - timedelta(days=2) < low < T0 < high < T0 + timedelta(days=2)  # not 2025-2029
    assert "its one grading run" in made[3]
    # several runs: their span and a margin
    times = [T0, T0 + timedelta(days=3), T0 + timedelta(days=9)]
    low, high = time_limits(times)
    assert high - low < timedelta(days=10) and low < T0 and high > times[-1]


def test_a_version_4_gradebook_migrates_to_runs(tmp_path):
    path = tmp_path / "v4.sqlite3"
    conn = dbmod.connect(path)
    migrate(conn, target=4)
    conn.execute("INSERT INTO students (login, login_key, repo) VALUES ('ada', 'ada', 'x/ada')")
    for fp, when, src in [
        ("f1", "2026-11-01T10:00:00+00:00", "/res/round-1/ada.json"),
        ("f2", "2026-11-04T10:00:00+00:00", "/res/round-2/ada.json"),
    ]:
        conn.execute(
            """INSERT INTO submissions (student_id, commit_sha, graded_at, grading_status,
               score, max_score, fingerprint, source_file, ingested_at)
               VALUES (1, 'abc', ?, 'graded', 7, 20, ?, ?, ?)""",
            (when, fp, src, when),
        )
    conn.close()
    with Gradebook(path) as gb:
        assert schema_version(gb.db) == 5
        (row,) = gb.students()
        assert [s.run_id for s in row.history] == [
            "/res/round-1 ingested 2026-11-01T10:00:00+00:00",
            "/res/round-2 ingested 2026-11-04T10:00:00+00:00",
        ]
        assert row.history[0].penalty is None and row.history[0].answers == {}
        assert gb.count("manual_points") == 0


# -- the late policy and extensions ----------------------------------------------------------


def late_policy_class(rd: Path) -> None:
    """ada on time; bo 2 days late with a 10 %/day policy (20 points of 20 max -> 4 off); cy
    with an extension, on time for her; di late without a policy."""
    on_time = {"late_days": 0, "penalty": 0.0}
    results_file(
        rd,
        "ada",
        passed=NO_BONUS,
        deadline=DEADLINE.isoformat(),
        raw_score=20.0,
        score=20.0,
        **on_time,
    )
    late_commit = DEADLINE + timedelta(days=1, hours=5)
    path = results_file(
        rd,
        "bo",
        passed=HALF,
        late=True,
        graded_at=late_commit + timedelta(hours=2),
        deadline=DEADLINE.isoformat(),
        raw_score=10.0,
        late_days=2,
        penalty=4.0,
        score=6.0,
    )
    data = json.loads(path.read_text())
    data["committed_at"] = late_commit.isoformat()
    path.write_text(json.dumps(data))
    results_file(
        rd,
        "cy",
        passed=ALL,
        deadline=(DEADLINE + timedelta(days=4)).isoformat(),
        raw_score=22.0,
        score=22.0,
        **on_time,
    )
    results_file(rd, "di", passed=HALF, late=True, deadline=DEADLINE.isoformat())


def test_the_late_policy_is_on_the_page_and_in_the_exports(tmp_path):
    rd = tmp_path / "r"
    late_policy_class(rd)
    _, problems = read_results_dir(rd)
    assert problems == []  # score after the penalty agrees with the tests less the penalty
    site = tmp_path / "site"
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    rows = lms(site)
    assert {k: rows["bo"][k] for k in ("score", "raw_score", "late_days", "penalty", "late")} == {
        "score": "6",
        "raw_score": "10",
        "late_days": "2",
        "penalty": "4",
        "late": "true",
    }
    assert (rows["ada"]["late_days"], rows["ada"]["penalty"], rows["ada"]["score"]) == (
        "0",
        "0",
        "20",
    )
    assert (rows["di"]["late_days"], rows["di"]["penalty"], rows["di"]["late"]) == ("", "", "true")
    assert rows["bo"]["deadline"] == DEADLINE.isoformat(timespec="seconds")
    bo = page(site, "bo")
    assert "2 days late, −4 points: 10 → 6" in bo
    assert "graded commit made 1 d 5 h after the deadline" in bo
    assert "late penalty" in bo
    di = page(site, "di")
    assert "the graded commit is the last one before it" in di
    # the extension is named on the page and in the flags; the class deadline is the common one
    cy = page(site, "cy")
    assert "extension" in cy and "the class's:" in cy
    with Gradebook(tmp_path / "g") as gb:
        board = Board(gb.students())
    flags = {r.student: r.flags for r in board.students}
    assert board.deadline == DEADLINE
    assert "extension" in flags["cy"] and "penalty" in flags["bo"] and "penalty" not in flags["ada"]
    # the score shown and counted is after the penalty
    assert {r.student: r.score for r in board.students}["bo"] == 6.0


def test_a_stated_score_that_ignores_the_penalty_is_a_warning(tmp_path):
    path = results_file(tmp_path, "bo", passed=HALF, raw_score=10.0, late_days=1, penalty=2.0)
    sub, problems = read_results_file(path)  # score 10 stated, 8 expected
    assert sub is not None and sub.score == 8.0 and sub.raw_score == 10.0
    assert any("less the late penalty 8" in p.message for p in problems)
    path = results_file(tmp_path, "cy", passed=HALF, late_days="two", penalty=-1)
    sub, problems = read_results_file(path)
    assert sub is not None and (sub.late_days, sub.penalty) == (0, 0.0)
    assert sum("is not a number" in p.message for p in problems) == 2


# -- the bonus policy and manual points -------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # main + bonus - penalty + manual: ada 20 + 2 - 0 + 3, bo 10 + 0 - 4 + 0, cy 4 + 2 - 0 - 9
        ("separate", {"ada": "20", "bo": "6", "cy": "0"}),
        ("cap", {"ada": "20", "bo": "6", "cy": "0"}),
        ("include", {"ada": "25", "bo": "6", "cy": "0"}),
    ],
)
def test_the_bonus_policy_decides_the_exported_score(tmp_path, policy, expected):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=ALL)
    results_file(rd, "bo", passed=HALF, raw_score=10.0, late_days=2, penalty=4.0, score=6.0)
    results_file(rd, "cy", passed={"add_batchnorm: new Sequential", BONUS})
    manual = tmp_path / "manual.csv"
    manual.write_text("student,points,comment\nada,3,answers\ncy,-9,copied answers\n")
    site = tmp_path / "site"
    build_scoreboard(
        results_dir=rd,
        out_dir=site,
        db_path=tmp_path / "g",
        bonus_policy=policy,
        manual_points=manual,
    )
    rows = lms(site)
    assert {s: r["score"] for s, r in rows.items()} == expected
    assert rows["ada"]["max_score"] == "20" and rows["ada"]["bonus"] == "2"
    assert rows["ada"]["manual_points"] == "3" and rows["bo"]["manual_points"] == ""
    assert f"bonus policy “{policy}”" in page(site, "ada")


def test_the_bonus_policies_on_one_student():
    rd_rows = {"separate": 18.0, "cap": 20.0, "include": 22.0}
    from autograder.grading.results import GradingResult
    from autograder.grading.results import TestResult as Check
    from autograder.scoreboard.model import ManualPoints, StudentRow, Submission

    result = GradingResult(
        [Check("a", "1.1", "add_batchnorm", 20, 17), Check("b", "6.1", "bonus", 4, 4)]
    )
    sub = Submission("ada", result, T0, commit="a" * 40, penalty=2.0, late_days=1)
    row = StudentRow("ada", [sub], manual=ManualPoints(3.0))
    for policy in BONUS_POLICIES:
        g = grade(row, policy)
        assert g.score == rd_rows[policy], policy
        assert (g.main, g.bonus, g.penalty, g.manual, g.max_score) == (17, 4, 2.0, 3.0, 20)
    with pytest.raises(ValueError, match="unknown bonus policy"):
        grade(row, "double")


def test_manual_points_are_kept_between_runs_and_replaced_by_a_new_import(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    results_file(rd, "bo", passed=HALF)
    site, db = tmp_path / "site", tmp_path / "g"
    first = tmp_path / "first.csv"
    first.write_text("student,points,comment\nADA,2.5,Q1 and Q2 well argued\nzed,1,no repo yet\n")
    args = ["scoreboard", str(rd), "--out", str(site), "--db", str(db)]
    assert cli_main([*args, "--manual-points", str(first)]) == 0
    out = capsys.readouterr().out
    assert "manual points: 2 entr" in out and "'zed', who has no submission" in out
    assert "Q1 and Q2 well argued" in page(site, "ada")
    # a later build without the file keeps them
    assert cli_main(args) == 0
    capsys.readouterr()
    assert lms(site)["ada"]["manual_points"] == "2.5"
    # a new import replaces ada's entry; the same entry again changes nothing
    second = tmp_path / "second.csv"
    second.write_text("comment,points,student,extra\nrevised,4,ada,x\n")
    assert cli_main([*args, "--manual-points", str(second)]) == 0
    assert "manual points: 1 entr" in capsys.readouterr().out
    assert cli_main([*args, "--manual-points", str(second)]) == 0
    assert "manual points: " not in capsys.readouterr().out
    rows = lms(site)
    assert rows["ada"]["manual_points"] == "4" and rows["bo"]["manual_points"] == ""
    assert rows["ada"]["score"] == "14"  # 10 + 4 (separate: within the maximum)
    with Gradebook(db) as gb:
        assert gb.count("manual_points") == 2  # ada and zed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,points\nada,1\n", "missing: student"),
        ("student,points\nada,one\n", "line 2: points 'one' of 'ada' is not a number"),
        ("student,points\nada,1\nbo,nan\n", "line 3: points 'nan' of 'bo' is out of range"),
        ("student,points\nada,1\nAda,2\n", "line 3: 'Ada' again (first on line 2)"),
        ("student,points\n,1\n", "line 2: no student"),
    ],
)
def test_a_bad_manual_points_file_is_refused_whole(tmp_path, capsys, content, message):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    bad = tmp_path / "manual.csv"
    bad.write_text(content)
    db = tmp_path / "g"
    code = cli_main(
        [
            "scoreboard",
            str(rd),
            "--out",
            str(tmp_path / "s"),
            "--db",
            str(db),
            "--manual-points",
            str(bad),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert not db.exists() and not (tmp_path / "s").exists()


def test_a_missing_manual_points_file_is_a_usage_error(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    code = cli_main(
        [
            "scoreboard",
            str(rd),
            "--out",
            str(tmp_path / "s"),
            "--manual-points",
            str(tmp_path / "nope.csv"),
        ]
    )
    assert code == 2 and "cannot read it" in capsys.readouterr().err


# -- the similarity report's flags ------------------------------------------------------------


def similarity_json(path: Path, students: dict[str, dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"generator": GENERATOR, "students": students}))
    return path


PAIR = {"flagged": True, "partner": "bo", "highest_similarity": 0.97, "reference_copy": False}
COPY = {
    "flagged": False,
    "partner": None,
    "highest_similarity": 0.2,
    "reference_copy": True,
    "reference_similarity": 1.0,
}
CLEAN = {"flagged": False, "partner": "ada", "highest_similarity": 0.3, "reference_copy": False}


def test_flagged_students_are_flagged_on_the_board(tmp_path):
    rd = tmp_path / "r"
    for name in ("ada", "bo", "cy", "di"):
        results_file(rd, name, passed=HALF)
    report = similarity_json(
        rd / "similarity" / "similarity.json",  # the documented place: found without an option
        {"ada": PAIR, "BO": {**PAIR, "partner": "ada"}, "cy": COPY, "di": CLEAN},
    )
    site = tmp_path / "site"
    built = build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    assert built.similarity == report and "similarity flags from" in built.summary()
    index = (site / "index.html").read_text()
    flagged = {r[0]: r[-1] for r in table_rows(index, "students")}
    assert "similar code" in flagged["ada"] and "with bo" in flagged["ada"]
    assert "similar code" in flagged["bo"] and "similar code" in flagged["cy"]
    assert "similar code" not in flagged["di"]
    assert "most similar to <strong>bo</strong> (97%)" in page(site, "ada")
    assert "reference copy" in page(site, "cy")
    assert {s: r["similarity_flag"] for s, r in lms(site).items()} == {
        "ada": "true",
        "bo": "true",
        "cy": "true",
        "di": "false",
    }
    assert '<option value="similar">' in index


def test_a_similarity_file_given_is_used_and_a_bad_one_refused(tmp_path, capsys):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    given = similarity_json(tmp_path / "elsewhere.json", {"ada": PAIR})
    args = ["scoreboard", str(rd), "--out", str(tmp_path / "s"), "--db", str(tmp_path / "g")]
    assert cli_main([*args, "--similarity", str(given)]) == 0
    capsys.readouterr()
    assert lms(tmp_path / "s")["ada"]["similarity_flag"] == "true"
    for content, message in [
        ('{"students": {}}', "not a similarity report"),
        ("{not json", "not valid JSON"),
        (json.dumps({"generator": GENERATOR, "students": []}), "'students' is not an object"),
    ]:
        given.write_text(content)
        assert cli_main([*args, "--similarity", str(given)]) == 2
        assert message in capsys.readouterr().err
    assert cli_main([*args, "--similarity", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_a_broken_similarity_file_in_its_place_is_a_warning(tmp_path):
    rd = tmp_path / "r"
    results_file(rd, "ada", passed=HALF)
    (rd / "similarity").mkdir()
    (rd / "similarity" / "similarity.json").write_text("{")
    report = build_scoreboard(results_dir=rd, out_dir=tmp_path / "s", db_path=tmp_path / "g")
    (problem,) = report.problems
    assert not problem.skipped and "similarity flags not shown" in problem.message
    assert report.students == 1 and report.similarity is None


# -- written answers, tampering, the vocabulary ---------------------------------------------


def test_written_answers_are_on_the_students_page(tmp_path):
    rd = tmp_path / "r"
    answers = {"Q10": "last", "Q2": "<b>batch</b> of one: zero variance", "Q1": "BatchNorm wins"}
    results_file(rd, "ada", passed=HALF, answers=answers, answers_source="ANSWERS.md")
    results_file(rd, "bo", passed=HALF)
    site = tmp_path / "site"
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    ada = page(site, "ada")
    assert "From ANSWERS.md" in ada
    assert ada.index("BatchNorm wins") < ada.index("zero variance") < ada.index("last")
    assert "&lt;b&gt;batch&lt;/b&gt;" in ada and "<b>batch" not in ada
    assert "No written answers in the results file." in page(site, "bo")
    with Gradebook(tmp_path / "g") as gb:
        (stored,) = gb.submissions("ada")
    assert stored.answers == answers and stored.answers_source == "ANSWERS.md"


def test_malformed_answers_are_a_warning(tmp_path):
    sub, problems = read_results_file(results_file(tmp_path, "ada", answers=["Q1", "x"]))
    assert sub is not None and sub.answers == {}
    assert [p.message for p in problems] == [
        "'answers' is not an object of question -> text; ignored"
    ]
    long = {"Q1": "x" * 9_000}
    sub, _ = read_results_file(results_file(tmp_path, "bo", answers=long))
    assert sub is not None and len(sub.answers["Q1"]) < 5_100


def test_a_tampered_page_says_what_changed(tmp_path):
    rd = tmp_path / "r"
    path = results_file(
        rd, "ada", passed=HALF, tampered=["tests/test_public.py", "exercise_utils.py"]
    )
    data = json.loads(path.read_text())
    data["extra_data"]["grade_repos"] = {
        "tampering": ["tests/test_public.py (modified)", "exercise_utils.py (deleted)"]
    }
    path.write_text(json.dumps(data))
    site = tmp_path / "site"
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    ada = page(site, "ada")
    assert "tests/test_public.py (modified)" in ada and "exercise_utils.py (deleted)" in ada
    assert "put back before grading" in ada


def test_passed_zero_point_checks_read_passed_in_the_matrix(tmp_path):
    rd = tmp_path / "r"
    path = results_file(rd, "ada", passed=HALF)
    data = json.loads(path.read_text())
    data["tests"].insert(
        0,
        {
            "name": "imports",
            "number": "0.1",
            "score": 0.0,
            "max_score": 0.0,
            "status": "passed",
            "output": "",
            "tags": ["integrity"],
            "visibility": "visible",
        },
    )
    path.write_text(json.dumps(data))
    bad = results_file(rd, "bo", passed=HALF)
    data["tests"][0]["status"] = "failed"
    data["student"] = "bo"
    bad.write_text(json.dumps(data))
    site = tmp_path / "site"
    build_scoreboard(results_dir=rd, out_dir=site, db_path=tmp_path / "g")
    with (site / "exports" / "test_matrix.csv").open(newline="") as f:
        matrix = list(csv.reader(f))
    assert matrix[0][4] == "0.1 imports" and matrix[1][4] == "0"
    by_student = {r[0]: r for r in matrix[2:]}
    assert by_student["ada"][4:] == ["passed", "4", "6", "0", "0"]
    assert by_student["bo"][4] == "failed"


def test_an_unknown_status_is_read_as_a_grader_error(tmp_path):
    path = results_file(tmp_path, "ada", passed=HALF)
    data = json.loads(path.read_text())
    data["extra_data"]["grading_status"] = "not_graded"
    path.write_text(json.dumps(data))
    sub, problems = read_results_file(path)
    assert sub is not None and sub.status == "grader_error" and not sub.has_grade
    assert "unknown grading status 'not_graded'" in problems[0].message


def test_every_export_of_a_whole_class_speaks_one_vocabulary(tmp_path):
    from tests.fixtures.synthetic_class import LatePolicy, make_synthetic_class

    made = make_synthetic_class(
        tmp_path / "class",
        students=24,
        rounds=3,
        seed=2,
        extensions=1,
        late_policy=LatePolicy(3, 10),
    )
    site = tmp_path / "site"
    build_scoreboard(results_dir=made.round_dirs, out_dir=site, db_path=tmp_path / "g")
    rows = lms(site)
    assert {r["status"] for r in rows.values()} <= set(STATUSES)
    assert {r["status"] for r in rows.values()} >= {GRADED, COULD_NOT_GRADE}
    for column in ("late", "tampered", "similarity_flag"):
        assert {r[column] for r in rows.values()} <= {"true", "false"}, column
    with (site / "exports" / "test_matrix.csv").open(newline="") as f:
        assert {r[1] for r in list(csv.reader(f))[2:]} <= set(STATUSES)
    summary = made.round_dirs[-1] / "summary.csv"
    with summary.open(newline="") as f:
        statuses = {r["grading_status"] for r in csv.DictReader(f)}
    assert statuses <= set(STATUSES)
    # the late policy's fields reached the export; penalised students are flagged
    penalised = [s for s, r in rows.items() if r["penalty"] not in ("", "0")]
    assert penalised
    for s in penalised:
        raw, penalty, score = (float(rows[s][k]) for k in ("raw_score", "penalty", "score"))
        assert score == max(0.0, raw - penalty) or rows[s]["score"] == "0"
    with sqlite3.connect(tmp_path / "g") as conn:
        runs = conn.execute("SELECT count(DISTINCT run_id) FROM submissions").fetchone()[0]
    assert runs == 3


def test_a_class_with_planted_copies_is_flagged_by_the_real_similarity_report(tmp_path):
    """The synthetic class's graded files through ``python -m autograder similarity``: exactly
    the planted students (two reference copies, one copied pair) are flagged, and the board
    shows them, found in the documented place."""
    import importlib.util

    from autograder.similarity.command import similarity_report
    from tests.fixtures.synthetic_class import make_synthetic_class
    from tests.tools import skip_or_fail

    problem = None if importlib.util.find_spec("copydetect") else "copydetect is not installed"
    skip_or_fail(problem, ci_message="CI lacks {problem}: scripts/setup.sh --test installs it")
    made = make_synthetic_class(tmp_path / "class", students=24, rounds=2, seed=4, submissions=True)
    last = made.round_dirs[-1]
    similarity_report(results_dir=last, out_dir=last / "similarity")
    planted = {*made.reference_copies, *made.copied_pair}
    assert len(made.reference_copies) == 2 and len(made.copied_pair) == 2
    site = tmp_path / "site"
    build_scoreboard(results_dir=made.round_dirs, out_dir=site, db_path=tmp_path / "g")
    flagged = {s for s, r in lms(site).items() if r["similarity_flag"] == "true"}
    assert flagged == planted
    for copy in made.reference_copies:
        assert "reference copy" in page(site, copy)
    source, copier = made.copied_pair
    assert f"most similar to <strong>{source}</strong>" in page(site, copier)
