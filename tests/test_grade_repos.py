"""grade-repos: roster validation, commit selection, tampering, error rows, shards, summary.

Student repositories are real git repositories (bare, local) whose commits are dated before and
after a deadline. The fast tests grade them with a stand-in grader (a script that honours the
grader's command-line contract and records what it saw); the slow tests grade them with the real
``python -m autograder grade``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.authoring.manifest import MANIFEST_PATH
from autograder.authoring.release import build_release
from autograder.cli import main as cli_main
from autograder.github import batch as gh_batch
from autograder.github import deadlines as gh_deadlines
from autograder.github import roster as gh_roster
from autograder.github import student as gh_student
from autograder.grading.pool import GraderPool
from autograder.paths import EXERCISE_FILE, SOLUTION_PATH, SOLUTIONS_DIR
from autograder.sandbox.names import EXERCISE_NOTEBOOK
from tests.student_repos import (
    AFTER,
    BEFORE,
    DEADLINE,
    FAKE_GRADER,
    JUST_BEFORE,
    empty_repo,
    git,
    partial_solution,
    student_repo,
)

# ---------------------------------------------------------------------------- roster


def test_roster_reads_extra_columns_bom_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(
        "\ufeffStudent, email ,Repo\nalice,a@x.org,repos/alice.git\n\n"
        "#bob,b@x.org,ignored\ncarol,c@x.org,https://github.com/course/bngc-carol.git\n",
        encoding="utf-8",
    )
    rows = gh_roster.read_roster(tmp_path / "r.csv")
    assert [r.student for r in rows] == ["alice", "carol"]
    assert rows[0].source == str((tmp_path / "repos/alice.git").resolve())
    assert rows[1].source == "https://github.com/course/bngc-carol.git"
    assert rows[0].line == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,url\nalice,x\n", "missing column(s) student, repo"),
        ("student\nalice\n", "missing column(s) repo"),
        ("", "missing column(s) student, repo"),
        ("student,repo\nalice,a\nAlice,b\n", "line 3: duplicate student 'Alice' (first on line 2)"),
        ("student,repo\n../etc/passwd,a\n", "unsafe student name '../etc/passwd'"),
        ("student,repo\nal ice,a\n", "unsafe student name 'al ice'"),
        ("student,repo\n.hidden,a\n", "unsafe student name '.hidden'"),
        ("student,repo\nCON,a\n", "unsafe student name 'CON'"),
        ("student,repo\nx" + "y" * 100 + ",a\n", "unsafe student name 'xyyy"),
        ("student,repo\n,a\n", "line 2: empty student name"),
    ],
)
def test_roster_problems_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(gh_roster.RosterError) as info:
        gh_roster.parse_roster(text, name="r.csv")
    assert message in str(info.value)


def test_roster_lists_every_problem_at_once() -> None:
    with pytest.raises(gh_roster.RosterError) as info:
        gh_roster.parse_roster("student,repo\na/b,x\nok,y\nOK,z\n")
    assert "line 2" in str(info.value) and "line 4" in str(info.value)


def test_shards_partition_the_roster() -> None:
    rows = gh_roster.parse_roster("student,repo\n" + "".join(f"s{i},r{i}\n" for i in range(7)))
    shards = [gh_roster.select_shard(rows, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(r.student for s in shards for r in s) == sorted(r.student for r in rows)
    assert [r.student for r in shards[0]] == ["s0", "s3", "s6"]
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(gh_roster.RosterError):
            gh_roster.select_shard(rows, bad)


def test_redact_url_drops_credentials() -> None:
    assert gh_roster.redact_url("https://x:tok@github.com/o/r.git") == "https://github.com/o/r.git"
    assert gh_roster.redact_url("/some/path") == "/some/path"


def test_deadline_parsing() -> None:
    assert (
        gh_deadlines.parse_deadline("2026-11-01T12:00:00Z").isoformat()
        == "2026-11-01T12:00:00+00:00"
    )
    assert gh_deadlines.parse_deadline("2026-11-01T13:00").tzinfo is not None
    for none in ("none", "None", " NONE "):  # the grading workflow's "grade the latest commits"
        assert gh_deadlines.parse_deadline(none) is None
    for bad in ("next friday", "", "nothing"):
        with pytest.raises(ValueError, match="ISO-8601"):
            gh_deadlines.parse_deadline(bad)


# ------------------------------------------------------------------ with a stand-in grader


@pytest.fixture(scope="module")
def fake_class(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A class of students graded with the stand-in grader (2 jobs)."""
    root = tmp_path_factory.mktemp("class")
    solution = SOLUTION_PATH.read_bytes()
    release = build_release()
    first_test = next(p for p in sorted(release) if p.startswith("tests/test_"))  # exists
    _, full_shas = student_repo(root, "full", [(JUST_BEFORE, {EXERCISE_FILE: solution})])
    _, late_shas = student_repo(
        root,
        "late",
        [(BEFORE, {EXERCISE_FILE: partial_solution()}), (AFTER, {EXERCISE_FILE: solution})],
    )
    tamper_files: dict[str, bytes | None] = {
        EXERCISE_FILE: solution,
        ".github/workflows/public-tests.yml": b"name: nothing to see\non: push\njobs: {}\n",
        "tests/test_extra_credit.py": b"def test_free_points():\n    assert True\n",
        "requirements.txt": None,
        first_test: b"def test_everything_passes():\n    assert True\n",  # an edited public test
    }
    student_repo(root, "tamper", [(BEFORE, tamper_files)])
    student_repo(root, "nocommit", [(AFTER, {EXERCISE_FILE: solution})], start=AFTER)
    student_repo(root, "noexercise", [(BEFORE, {EXERCISE_FILE: None, EXERCISE_NOTEBOOK: None})])
    # the notebook edition only (the .py deleted): graded from the notebook
    notebook = (SOLUTIONS_DIR / EXERCISE_NOTEBOOK).read_bytes()
    _, notebook_shas = student_repo(
        root, "notebook", [(BEFORE, {EXERCISE_FILE: None, EXERCISE_NOTEBOOK: notebook})]
    )
    student_repo(root, "crash", [(BEFORE, {EXERCISE_FILE: solution + b"\n# CRASH_THE_GRADER\n"})])
    empty_repo(root, "empty")
    roster = root / "roster.csv"
    roster.write_text(
        "student,repo\n"
        "full,repos/full.git\n"
        "late,repos/late.git\n"
        "tamper,repos/tamper.git\n"
        "empty,repos/empty.git\n"
        "missing,repos/missing.git\n"
        "noexercise,repos/noexercise.git\n"
        "notebook,repos/notebook.git\n"
        "unreachable,file:///nonexistent/nowhere.git\n"
        "norepo,\n"
        "crash,repos/crash.git\n"
        "nocommit,repos/nocommit.git\n",
        encoding="utf-8",
    )
    script = root / "fake_grader.py"
    script.write_text(FAKE_GRADER, encoding="utf-8")
    out = root / "results"
    os.environ["CLASSROOM_TOKEN_FOR_TEST"] = "s3cr3t"
    try:
        batch = gh_batch.grade_repos(
            roster=roster,
            out_dir=out,
            deadline=DEADLINE,
            jobs=2,
            token="s3cr3t",
            grader_command=[sys.executable, str(script)],
            progress=lambda msg: None,
        )
    finally:
        del os.environ["CLASSROOM_TOKEN_FOR_TEST"]
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    with (out / "summary.csv").open(newline="") as f:
        summary = {r["student"]: r for r in csv.DictReader(f)}
    return {
        "batch": batch,
        "rows": rows,
        "summary": summary,
        "out": out,
        "full_shas": full_shas,
        "notebook_shas": notebook_shas,
        "late_shas": late_shas,
        "first_test": first_test,
        "root": root,
        "roster": roster,
        "script": script,
    }


def test_every_student_has_a_row(fake_class: dict) -> None:
    students = {
        "full",
        "late",
        "tamper",
        "empty",
        "missing",
        "noexercise",
        "notebook",
        "unreachable",
        "norepo",
        "crash",
        "nocommit",
    }
    assert set(fake_class["rows"]) == students
    assert set(fake_class["summary"]) == students
    assert len(fake_class["batch"].rows) == len(students)
    for name, data in fake_class["rows"].items():
        for key in (
            "student",
            "repo",
            "commit",
            "committed_at",
            "late",
            "tampered",
            "error",
            "isolation",
            "grader_version",
            "graded_at",
            "score",
            "max_score",
            "tests",
            "output",
        ):
            assert key in data, (name, key)
        assert data["student"] == name
        assert data["max_score"] == 100.0


def test_full_marks_graded_at_last_commit_before_deadline(fake_class: dict) -> None:
    row = fake_class["rows"]["full"]
    assert row["score"] == 100.0 and row["error"] is None
    assert row["commit"] == fake_class["full_shas"][-1]
    assert row["committed_at"].startswith("2026-11-01T11:59:00")
    assert row["late"] is False and row["tampered"] == []
    assert row["grader_version"] == "fake-1"
    assert row["repo"] == "repos/full.git"


def test_late_commits_are_not_graded_but_flagged(fake_class: dict) -> None:
    row = fake_class["rows"]["late"]
    shas = fake_class["late_shas"]
    assert row["commit"] == shas[1]  # the partial work before the deadline
    assert row["late"] is True
    assert row["score"] == 50.0
    assert row["extra_data"]["grade_repos"]["late_commits"] == [shas[2]]
    assert fake_class["summary"]["late"]["late"] == "true"


def test_no_commit_before_the_deadline_is_a_late_error_row(fake_class: dict) -> None:
    row = fake_class["rows"]["nocommit"]
    assert row["late"] is True and row["commit"] is None and row["score"] == 0.0
    assert row["error"].startswith(f"no commit at or before the deadline {DEADLINE}")
    assert "(2 commit(s) after it, none graded)" in row["error"]
    assert len(row["extra_data"]["grade_repos"]["late_commits"]) == 2
    assert fake_class["summary"]["nocommit"]["late"] == "true"


def test_isolation_is_passed_on_and_recorded(fake_class: dict) -> None:
    full = fake_class["rows"]["full"]
    assert full["extra_data"]["argv"][-2:] == ["--isolation", "auto"]
    assert full["isolation"] == "process"  # what the (stand-in) grader reported using
    assert fake_class["summary"]["full"]["isolation"] == "process"
    assert fake_class["rows"]["empty"]["isolation"] is None  # never reached the grader
    assert fake_class["summary"]["empty"]["isolation"] == ""


@pytest.mark.parametrize(("asked", "reported"), [("bwrap", "process"), ("process", "bwrap")])
def test_results_graded_with_another_isolation_are_refused(
    fake_class: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str, reported: str
) -> None:
    monkeypatch.setenv("FAKE_REPORTED_ISOLATION", reported)
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student == "full"]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path,
        isolation=asked,
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    (row,) = batch.rows
    assert row.error == (
        f"grader_error: --isolation {asked} was asked for, but the grader reports isolation "
        f"'{reported}'; refusing its results"
    )
    assert row.score == 0.0 and row.grading_status == "grader_error"


def test_isolation_bwrap_is_accepted_when_the_grader_used_it(
    fake_class: dict, tmp_path: Path
) -> None:
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student == "full"]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path,
        isolation="bwrap",
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    (row,) = batch.rows
    assert row.error is None and row.isolation == "bwrap" and row.score == 100.0
    assert json.loads((tmp_path / "full.json").read_text())["isolation"] == "bwrap"


def test_bad_isolation_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["grade-repos", "r.csv", "--out", str(tmp_path), "--isolation", "none"])
    assert info.value.code == 2
    assert "invalid choice: 'none'" in capsys.readouterr().err


def test_fetch_then_grade_without_network_or_token(
    fake_class: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--fetch-only (the step with the token) then --clones (the step without): same rows."""
    clones, out = tmp_path / "clones", tmp_path / "results"
    monkeypatch.setenv("CLASSROOM_TOKEN", "s3cr3t")
    roster = str(fake_class["roster"])
    assert cli_main(["grade-repos", roster, "--fetch-only", "--clones", str(clones)]) == 0
    assert not out.exists()
    fetched = sorted(p.name for p in clones.iterdir())
    assert "full.git" in fetched and "missing.error" in fetched and "norepo.error" in fetched
    assert "empty.git" in fetched  # an empty repository is fetched; grading says it is empty
    monkeypatch.delenv("CLASSROOM_TOKEN")
    batch = gh_batch.grade_repos(
        roster=roster,
        out_dir=out,
        deadline=DEADLINE,
        clones=clones,
        jobs=2,
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    direct = fake_class["rows"]
    assert {r.student for r in batch.rows} == set(direct)
    for res in batch.rows:
        want = direct[res.student]
        assert (res.commit, res.late, res.score) == (want["commit"], want["late"], want["score"])
        assert res.error == want["error"], res.student
        assert sorted(res.tampered) == sorted(want["tampered"])
        assert res.repo == want["repo"]  # the roster's URL, not the clone's path


def test_grading_from_clones_of_another_roster_says_so(fake_class: dict, tmp_path: Path) -> None:
    (tmp_path / "clones").mkdir()
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student == "full"]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path / "out",
        clones=tmp_path / "clones",
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    assert batch.rows[0].error.startswith("not fetched: ")
    with pytest.raises(ValueError, match="no such folder"):
        gh_batch.grade_repos(roster=rows, out_dir=tmp_path / "out", clones=tmp_path / "nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fetch-only"], "--fetch-only needs --clones DIR"),
        (["--fetch-only", "--clones", "c", "--collect"], "exclude each other"),
        (["--post-status", "--out", "o"], "--post-status needs a GitHub token"),
        (["--collect", "--post-status", "--out", "o"], "environment variable CLASSROOM_TOKEN"),
        ([], "--out DIR is required"),
    ],
)
def test_cli_usage_errors_come_before_any_work(
    fake_class: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLASSROOM_TOKEN", raising=False)
    assert cli_main(["grade-repos", str(fake_class["roster"]), *args]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing cloned, graded or written


def test_cli_deadline_none_grades_the_latest_commits(fake_class: dict, tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(f"student,repo\nlate,{fake_class['root'] / 'repos' / 'late.git'}\n")
    code = cli_main(
        ["grade-repos", str(roster), "--out", str(tmp_path / "o"), "--deadline", "None"]
    )
    assert code == 0
    row = json.loads((tmp_path / "o" / "late.json").read_text())
    assert row["commit"] == fake_class["late_shas"][-1] and row["late"] is False
    assert row["extra_data"]["grade_repos"]["deadline"] is None


def test_a_results_file_that_cannot_be_written_keeps_its_row(
    fake_class: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "full.json").mkdir(parents=True)  # a folder where the results file should go
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student in ("full", "late")]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=out,
        deadline=DEADLINE,
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    full = next(r for r in batch.rows if r.student == "full")
    assert full.error.startswith(f"grader_error: could not write {out / 'full.json'}: ")
    with (out / "summary.csv").open(newline="") as f:
        summary = {r["student"]: r for r in csv.DictReader(f)}
    assert set(summary) == {"full", "late"}
    assert summary["full"]["error"] == full.error and summary["full"]["score"] == "100"
    assert summary["late"]["error"] == "" and (out / "late.json").is_file()


def test_tampering_is_flagged_and_undone_before_grading(fake_class: dict) -> None:
    row = fake_class["rows"]["tamper"]
    expected = {
        ".github/workflows/public-tests.yml",
        "tests/test_extra_credit.py",
        "requirements.txt",
        fake_class["first_test"],
    }
    assert set(row["tampered"]) == expected
    assert row["score"] == 100.0 and row["error"] is None
    # the grader saw the released files, and not the student's additions
    seen = row["extra_data"]["seen"]
    release = build_release()
    import hashlib

    for rel in expected - {"tests/test_extra_credit.py"}:
        assert seen[rel] == hashlib.sha256(release[rel]).hexdigest(), rel
    assert "tests/test_extra_credit.py" not in seen
    kinds = set(row["extra_data"]["grade_repos"]["tampering"])
    assert f"{fake_class['first_test']} (modified)" in kinds
    assert ".github/workflows/public-tests.yml (modified)" in kinds
    assert "requirements.txt (deleted)" in kinds
    assert "tests/test_extra_credit.py (added)" in kinds
    assert fake_class["summary"]["tamper"]["tampered"] == ";".join(sorted(expected))


def test_a_repository_with_only_the_notebook_is_graded_from_it(fake_class: dict) -> None:
    row = fake_class["rows"]["notebook"]
    assert row["error"] is None and row["score"] == 100.0
    assert row["commit"] == fake_class["notebook_shas"][-1]


@pytest.mark.parametrize(
    ("student", "message"),
    [
        ("empty", "empty repository"),
        ("missing", "repository not found"),
        ("noexercise", f"no {EXERCISE_FILE} (or {EXERCISE_NOTEBOOK}) at the top of the repository"),
        ("unreachable", "could not clone file:///nonexistent/nowhere.git"),
        ("norepo", "no repository in the roster"),
        ("crash", "grader_error: the grader exited with status 3"),
        ("nocommit", f"no commit at or before the deadline {DEADLINE}"),
    ],
)
def test_broken_rows_have_errors_and_zero(fake_class: dict, student: str, message: str) -> None:
    row = fake_class["rows"][student]
    assert message in row["error"]
    assert row["score"] == 0.0 and row["max_score"] == 100.0
    assert len(row["tests"]) == 1 and row["tests"][0]["tags"] == ["integrity"]
    assert row["tests"][0]["status"] == "failed"
    assert fake_class["summary"][student]["error"] == row["error"]


def test_every_student_gets_a_feedback_file(fake_class: dict) -> None:
    feedback = fake_class["out"] / "feedback"
    assert sorted(p.stem for p in feedback.glob("*.md")) == sorted(fake_class["rows"])
    full = (feedback / "full.md").read_text()
    assert "**Score: 100/100**" in full and fake_class["full_shas"][-1] in full
    assert f"| Deadline | {DEADLINE} |" in full and "| 1.1 | fake | 100/100 | ✅ |" in full
    crash = (feedback / "crash.md").read_text()
    assert "grader bug" not in crash and "not your fault" in crash
    assert "no repository in the roster" in (feedback / "norepo.md").read_text()
    tamper = (feedback / "tamper.md").read_text()
    assert "Protected files were changed" in tamper and "`requirements.txt`" in tamper
    for name, data in fake_class["rows"].items():  # nothing of the grader's own records
        text = (feedback / f"{name}.md").read_text()
        assert "s3cr3t" not in text and str(fake_class["root"]) not in text, name
        assert data["extra_data"].get("argv", ["--out"])[0] not in text


def test_the_graded_files_are_kept_for_similarity(fake_class: dict) -> None:
    kept = fake_class["out"] / "submissions"
    assert sorted(p.name for p in kept.iterdir()) == [
        "crash", "full", "late", "notebook", "tamper"
    ]  # fmt: skip
    assert [p.name for p in (kept / "notebook").iterdir()] == [EXERCISE_NOTEBOOK]
    assert (kept / "full" / EXERCISE_FILE).read_bytes() == SOLUTION_PATH.read_bytes()


def test_summary_speaks_the_shared_vocabulary(fake_class: dict) -> None:
    from autograder.grading.results import STATUSES

    summary = fake_class["summary"]
    assert {r["grading_status"] for r in summary.values()} <= set(STATUSES)
    assert {r["late"] for r in summary.values()} == {"true", "false"}
    for name in ("empty", "missing", "noexercise", "unreachable", "norepo", "nocommit"):
        assert summary[name]["grading_status"] == "could_not_grade", name
    assert summary["crash"]["grading_status"] == "grader_error"
    assert summary["full"]["grading_status"] == "graded"
    run_ids = {r["run_id"] for r in summary.values()}
    assert len(run_ids) == 1 and run_ids.pop().endswith("+00:00")  # the batch's start, UTC


def test_no_token_reaches_the_grader(fake_class: dict) -> None:
    assert fake_class["rows"]["full"]["extra_data"]["env_secrets"] == []
    for data in fake_class["rows"].values():
        assert "s3cr3t" not in json.dumps(data)


def test_summary_csv_columns(fake_class: dict) -> None:
    with (fake_class["out"] / "summary.csv").open(newline="") as f:
        header = next(csv.reader(f))
    required = [
        "student",
        "repo",
        "commit",
        "committed_at",
        "score",
        "max_score",
        "late",
        "tampered",
        "error",
    ]
    assert header[: len(required)] == required


def test_no_deadline_grades_the_head(fake_class: dict, tmp_path: Path) -> None:
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student == "late"]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path,
        grader_command=[sys.executable, str(fake_class["script"])],
        progress=lambda msg: None,
    )
    (row,) = batch.rows
    assert row.commit == fake_class["late_shas"][-1] and row.late is False and row.score == 100


def test_shards_then_collect_cover_the_class(fake_class: dict, tmp_path: Path) -> None:
    rows = [
        r for r in gh_roster.read_roster(fake_class["roster"]) if r.student in ("full", "empty")
    ]
    out = tmp_path / "merged"
    for k in (1, 2):
        shard_out = tmp_path / f"shard{k}"
        batch = gh_batch.grade_repos(
            roster=rows,
            out_dir=shard_out,
            shard=f"{k}/2",
            grader_command=[sys.executable, str(fake_class["script"])],
            progress=lambda msg: None,
        )
        assert len(batch.rows) == 1
        out.mkdir(exist_ok=True)
        for p in shard_out.glob("*.json"):
            (out / p.name).write_bytes(p.read_bytes())
    assert cli_main(["grade-repos", "--out", str(out), "--collect"]) == 0
    with (out / "summary.csv").open(newline="") as f:
        assert sorted(r["student"] for r in csv.DictReader(f)) == ["empty", "full"]


def test_collect_reads_each_results_file_once(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    out.mkdir()
    good = gh_student.RepoResult(
        student="ann", repo="r", results=gh_student.could_not_grade_results("x")
    )
    (out / "ann.json").write_text(json.dumps(good.to_json()), encoding="utf-8")
    (out / "bob.json").write_text("{not json", encoding="utf-8")
    assert cli_main(["grade-repos", "--out", str(out), "--collect"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count(f"grade-repos: skipping {out / 'bob.json'}: ") == 1
    assert "summarised 1 student(s)" in captured.out
    with (out / "summary.csv").open(newline="") as f:
        assert [r["student"] for r in csv.DictReader(f)] == ["ann"]


def test_cli_rejects_bad_roster_without_writing(tmp_path: Path, capsys) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("student,repo\nalice,a\nalice,b\n", encoding="utf-8")
    code = cli_main(["grade-repos", str(roster), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "duplicate student 'alice'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_manifest_in_release_matches_the_protected_files() -> None:
    release = build_release()
    manifest = json.loads(release[MANIFEST_PATH])
    assert "requirements.txt" in manifest["files"]
    assert ".github/workflows/public-tests.yml" in manifest["files"]
    assert EXERCISE_FILE not in manifest["files"]


# ---------------------------------------------------------------------------- the real grader


@pytest.fixture(scope="module")
def real_class(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Full-marks, partial, late and tampering students graded by the real grader."""
    root = tmp_path_factory.mktemp("realclass")
    solution = SOLUTION_PATH.read_bytes()
    public_test = next(p for p in sorted(build_release()) if p.startswith("tests/test_"))
    student_repo(root, "full", [(BEFORE, {EXERCISE_FILE: solution})])
    student_repo(root, "partial", [(BEFORE, {EXERCISE_FILE: partial_solution()})])
    _, late_shas = student_repo(
        root,
        "late",
        [(BEFORE, {EXERCISE_FILE: partial_solution()}), (AFTER, {EXERCISE_FILE: solution})],
    )
    student_repo(
        root,
        "tamper",
        [
            (
                BEFORE,
                {
                    EXERCISE_FILE: solution,
                    ".github/workflows/public-tests.yml": b"on: push\njobs: {}\n",
                    public_test: b"def test_x():\n    assert True\n",  # edits a public test
                    "tests/test_extra.py": b"def test_x():\n    assert True\n",
                },
            )
        ],
    )
    empty_repo(root, "empty")
    roster = root / "roster.csv"
    roster.write_text(
        "student,repo\nfull,repos/full.git\npartial,repos/partial.git\nlate,repos/late.git\n"
        "tamper,repos/tamper.git\nempty,repos/empty.git\nmissing,repos/missing.git\n",
        encoding="utf-8",
    )
    out = root / "results"
    replies = []  # every grading of the batch, as its grading server answered it
    grade = GraderPool.grade

    def noted(pool: GraderPool, *args, **kwargs):
        replies.append(grade(pool, *args, **kwargs))
        return replies[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GraderPool, "grade", noted)
        code = cli_main(
            ["grade-repos", str(roster), "--out", str(out), "--deadline", DEADLINE, "--jobs", "2"]
        )
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    return {
        "replies": replies,
        "code": code,
        "rows": rows,
        "late_shas": late_shas,
        "out": out,
        "public_test": public_test,
    }


@pytest.mark.slow
def test_real_grading_of_a_class(real_class: dict) -> None:
    rows = real_class["rows"]
    assert real_class["code"] == 0
    assert set(rows) == {"full", "partial", "late", "tamper", "empty", "missing"}
    full, partial, late, tamper = rows["full"], rows["partial"], rows["late"], rows["tamper"]
    assert full["error"] is None, full["error"]
    assert full["extra_data"]["grading_status"] == "graded"
    assert full["max_score"] == 100.0 and full["score"] >= 100.0  # bonus points come on top
    assert all(t["status"] == "passed" for t in full["tests"])
    assert 0 < partial["score"] < partial["max_score"]
    assert partial["error"] is None
    assert late["late"] is True and late["commit"] == real_class["late_shas"][1]
    assert late["score"] == partial["score"]
    assert tamper["score"] == full["score"] and tamper["error"] is None
    assert set(tamper["tampered"]) == {
        ".github/workflows/public-tests.yml",
        real_class["public_test"],
        "tests/test_extra.py",
    }
    from autograder.sandbox.isolation import bwrap_available

    for name in ("full", "partial", "late", "tamper"):  # auto: what this machine can do
        assert rows[name]["isolation"] == ("bwrap" if bwrap_available() else "process"), name
    for name in ("empty", "missing"):
        assert rows[name]["score"] == 0 and rows[name]["error"]
    assert (real_class["out"] / "summary.csv").is_file()
    # the feedback of a real grading: every visible check, each failure's expected/got/hint
    feedback = (real_class["out"] / "feedback" / "partial.md").read_text()
    for t in partial["tests"]:
        if t["visibility"] == "visible":
            assert f"| {t['number']} | " in feedback, t["number"]
    failed = [t for t in partial["tests"] if t["status"] == "failed" and t["output"]]
    assert failed and "## What to fix" in feedback
    for t in failed:  # its feedback (what was expected, what was got, the hint) under its number
        assert f"### {t['number']} " in feedback and t["output"].splitlines()[0] in feedback
    assert "extra_data" not in feedback and "Traceback" not in feedback
    kept = real_class["out"] / "submissions" / "full" / EXERCISE_FILE
    assert kept.read_bytes() == SOLUTION_PATH.read_bytes()
    # graded by at most --jobs grading servers, each reused: the grader started at most twice
    replies = real_class["replies"]
    assert len(replies) == 4 and len({r.server_pid for r in replies}) <= 2


def test_symbolic_links_are_checked_out_as_plain_files(fake_class: dict, tmp_path: Path) -> None:
    """A link to the instructor's files (here: the reference solution) is never followed."""
    root = tmp_path / "class"
    work = root / "work" / "linker"
    work.mkdir(parents=True)
    git(work, "init", "--quiet", "-b", "main")
    (work / EXERCISE_FILE).symlink_to(SOLUTION_PATH)
    (work / "tests").symlink_to("/etc")
    git(work, "add", "--all", ".")
    git(work, "commit", "--quiet", "-m", "links", date=BEFORE)
    bare = root / "linker.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(bare)], check=True)
    keep = tmp_path / "clones"
    batch = gh_batch.grade_repos(
        roster=gh_roster.parse_roster(f"student,repo\nlinker,{bare}\n"),
        out_dir=tmp_path / "out",
        grader_command=[sys.executable, str(fake_class["script"])],
        workdir=keep,
        progress=lambda msg: None,
    )
    (row,) = batch.rows
    exercise = keep / "linker" / "repo" / EXERCISE_FILE
    assert not exercise.is_symlink() and exercise.read_text() == str(SOLUTION_PATH)
    assert "tests" in row.tampered
    assert (keep / "linker" / "repo" / "tests").is_dir()  # the released tests, restored
    assert row.score == 0.0


def test_a_hanging_grader_is_stopped(fake_class: dict, tmp_path: Path) -> None:
    script = tmp_path / "slow_grader.py"
    script.write_text("import time\ntime.sleep(60)\n")
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student == "full"]
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path / "out",
        grader_command=[sys.executable, str(script)],
        grade_timeout=2,
        progress=lambda msg: None,
    )
    (row,) = batch.rows
    assert row.error == "grader_error: the grader did not finish in 2 s"
    assert row.grading_status == "grader_error" and row.score == 0.0
    assert json.loads((tmp_path / "out" / "full.json").read_text())["error"] == row.error


# ------------------------------------------------------------------ parallel grading, no clocks

# A stand-in grader that notes which other gradings were running while it ran, through marker
# files: `<student>.started` first, `<student>.finished` last. With RENDEZVOUS_WAIT=1 it waits
# (for at most two minutes, a generous bound that only matters when the test fails) until it
# sees another grading running, or one that saw it. Without, it looks once, when it starts;
# any overlap with an earlier grading is seen then, since that one has not finished.
RENDEZVOUS_GRADER = textwrap.dedent(
    """
    import json, os, pathlib, sys, time
    sub, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[3])
    marks = pathlib.Path(os.environ["RENDEZVOUS_DIR"])
    me = sub.parent.name  # the work folder is <workdir>/<student>/repo
    (marks / f"{me}.started").touch()

    def running():
        return {p.name[: -len(".started")] for p in marks.glob("*.started")} - {me} - {
            p.name[: -len(".finished")] for p in marks.glob("*.finished")}

    def seen_by_a_peer():
        return any(me in p.read_text().split() for p in marks.glob("*.saw"))

    saw = running()
    give_up = time.monotonic() + 120
    while os.environ.get("RENDEZVOUS_WAIT") == "1" and not saw and not seen_by_a_peer():
        if time.monotonic() > give_up:
            break
        time.sleep(0.02)
        saw |= running()
    tmp = marks / f".{me}.saw"
    tmp.write_text(" ".join(sorted(saw)))
    tmp.replace(marks / f"{me}.saw")  # whole, for the peer that reads it
    json.dump({"score": 0.0, "max_score": 100.0, "execution_time": 0.0, "output": "", "tests": [],
               "extra_data": {"grading_status": "graded", "saw_running": sorted(saw)}},
              out.open("w"))
    (marks / f"{me}.finished").touch()
    """
)


def grade_with_rendezvous(
    fake_class: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    students: list[str],
    *,
    jobs: int,
    wait: bool,
) -> dict[str, list[str]]:
    """What each student's grading saw running while it ran."""
    script = tmp_path / "rendezvous_grader.py"
    script.write_text(RENDEZVOUS_GRADER, encoding="utf-8")
    marks = tmp_path / "marks"
    marks.mkdir()
    rows = [r for r in gh_roster.read_roster(fake_class["roster"]) if r.student in students]
    monkeypatch.setenv("RENDEZVOUS_DIR", str(marks))
    monkeypatch.setenv("RENDEZVOUS_WAIT", "1" if wait else "0")
    batch = gh_batch.grade_repos(
        roster=rows,
        out_dir=tmp_path / "out",
        jobs=jobs,
        grader_command=[sys.executable, str(script)],
        progress=lambda msg: None,
    )
    assert [r.error for r in batch.rows] == [None] * len(students)
    assert len(list(marks.glob("*.finished"))) == len(students)
    return {r.student: r.results["extra_data"]["saw_running"] for r in batch.rows}


def test_two_jobs_grade_two_students_at_the_same_time(
    fake_class: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    students = ["full", "late"]
    saw = grade_with_rendezvous(fake_class, tmp_path, monkeypatch, students, jobs=2, wait=True)
    assert saw["full"] == ["late"] or saw["late"] == ["full"], saw  # a grading saw the other


def test_one_job_never_grades_two_students_at_once(
    fake_class: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    students = ["full", "late", "tamper", "crash"]
    saw = grade_with_rendezvous(fake_class, tmp_path, monkeypatch, students, jobs=1, wait=False)
    assert saw == {s: [] for s in students}


def test_the_rendezvous_grader_sees_overlaps(fake_class: dict, tmp_path: Path) -> None:
    """The check of the test above can fail: without waiting, two jobs are still seen to overlap
    when one grading starts while another runs (here: a grading left unfinished on purpose)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "someone.started").touch()  # started and never finished
    script = tmp_path / "rendezvous_grader.py"
    script.write_text(RENDEZVOUS_GRADER, encoding="utf-8")
    sub = tmp_path / "w" / "full" / "repo"
    sub.mkdir(parents=True)
    subprocess.run(
        [sys.executable, str(script), str(sub), "--out", str(tmp_path / "r.json")],
        env={**os.environ, "RENDEZVOUS_DIR": str(marks), "RENDEZVOUS_WAIT": "0"},
        check=True,
    )
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["extra_data"]["saw_running"] == ["someone"]
