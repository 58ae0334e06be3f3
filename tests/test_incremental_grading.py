"""Incremental grading: an unchanged student keeps their result as it was, byte for byte; a push,
an extension, another grader or a grader error regrades them; the workflow's plan (``plan-grading``)
decides the same from the repositories' heads without cloning.

Graded with the stand-in grader of ``tests/student_repos.py``, which logs whom it graded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from autograder.cli import main as cli_main
from autograder.github import batch as gh_batch
from autograder.github import planning as gh_planning
from autograder.github import reuse as gh_reuse
from autograder.paths import EXERCISE_FILE, REPO_ROOT, SOLUTION_PATH
from tests.student_repos import (
    AFTER,
    BEFORE,
    DEADLINE,
    FAKE_GRADER,
    empty_repo,
    partial_solution,
    push_files,
    student_repo,
)

LATER = "2026-10-28T10:00:00+00:00"  # before the deadline, after BEFORE


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Three students (full marks, partial, an empty repository), a roster and a grader log."""
    student_repo(tmp_path, "ann", [(BEFORE, {EXERCISE_FILE: SOLUTION_PATH.read_bytes()})])
    student_repo(tmp_path, "ben", [(BEFORE, {EXERCISE_FILE: partial_solution()})])
    empty_repo(tmp_path, "cat")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student,repo\nann,repos/ann.git\nben,repos/ben.git\ncat,repos/cat.git\n",
        encoding="utf-8",
    )
    script = tmp_path / "fake_grader.py"
    script.write_text(FAKE_GRADER, encoding="utf-8")
    log = tmp_path / "graded.log"
    monkeypatch.setenv("FAKE_GRADER_LOG", str(log))
    return {"root": tmp_path, "roster": roster, "script": script, "log": log}


def grade(course: dict, out: Path, **kwargs) -> gh_batch.BatchResult:
    course["log"].write_text("")
    kwargs.setdefault("roster", course["roster"])
    return gh_batch.grade_repos(
        out_dir=out,
        deadline=kwargs.pop("deadline", DEADLINE),
        grader_command=[sys.executable, str(course["script"])],
        progress=lambda msg: None,
        **kwargs,
    )


def graded(course: dict) -> list[str]:
    return sorted(course["log"].read_text().split())


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.glob("*.json"))}


def test_an_unchanged_rerun_regrades_nobody(course: dict) -> None:
    out = course["root"] / "results"
    first = grade(course, out, run_id="run-1")
    assert graded(course) == ["ann", "ben"] and first.reused == []
    before = snapshot(out)
    summary = (out / "summary.csv").read_text()
    again = grade(course, out, run_id="run-2")
    assert graded(course) == []  # the grader never ran
    assert sorted(r.student for r in again.reused) == ["ann", "ben", "cat"]
    assert snapshot(out) == before  # every results file as it was, graded_at and run_id included
    assert (out / "summary.csv").read_text() == summary
    assert json.loads((out / "ann.json").read_text())["run_id"] == "run-1"


def test_a_push_regrades_that_student_only(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out, run_id="run-1")
    before = snapshot(out)
    new = push_files(course["root"], "ben", {EXERCISE_FILE: SOLUTION_PATH.read_bytes()}, LATER)
    batch = grade(course, out, run_id="run-2")
    assert graded(course) == ["ben"]
    ben = json.loads((out / "ben.json").read_text())
    assert (ben["commit"], ben["score"], ben["run_id"]) == (new, 100.0, "run-2")
    assert ben["extra_data"]["grade_repos"]["regraded_because"] == "a new commit to grade"
    after = snapshot(out)
    assert after["ann.json"] == before["ann.json"] and after["cat.json"] == before["cat.json"]
    assert {r.student for r in batch.reused} == {"ann", "cat"}


def test_force_regrades_everyone(course: dict, capsys) -> None:
    out = course["root"] / "results"
    grade(course, out)
    course["log"].write_text("")
    args = ["grade-repos", str(course["roster"]), "--out", str(out), "--deadline", DEADLINE]
    assert cli_main([*args, "--force", "--run-id", "forced"]) == 0
    assert "graded 3 student(s), kept 0 unchanged result(s)" in capsys.readouterr().out
    assert json.loads((out / "ann.json").read_text())["run_id"] == "forced"


def test_an_extension_regrades_that_student_at_their_deadline(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out)
    late = push_files(course["root"], "ann", {"notes.txt": b"after the class deadline\n"}, AFTER)
    roster = course["root"] / "extended.csv"
    roster.write_text(
        "student,repo,deadline\nann,repos/ann.git,2026-11-03T12:00:00+00:00\n"
        "ben,repos/ben.git,\ncat,repos/cat.git,\n",
        encoding="utf-8",
    )
    grade(course, out, roster=roster)
    assert graded(course) == ["ann"]
    ann = json.loads((out / "ann.json").read_text())
    assert ann["deadline"] == "2026-11-03T12:00:00+00:00" and ann["commit"] == late
    assert ann["late"] is False and "late_days" not in ann  # no late policy: nothing to say
    assert ann["extra_data"]["grade_repos"]["regraded_because"] == "the deadline changed"
    grade(course, out, roster=roster)  # the extension holds on the next run
    assert graded(course) == []
    assert json.loads((out / "ann.json").read_text()) == ann


def test_another_grader_or_a_grader_error_regrades(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out)
    ann = json.loads((out / "ann.json").read_text())
    ann["extra_data"]["grade_repos"]["grading_key"]["grader"] = "0.9.0+0123456789abcdef"
    (out / "ann.json").write_text(json.dumps(ann))
    ben = json.loads((out / "ben.json").read_text())
    ben["extra_data"]["grading_status"] = "grader_error"
    ben["error"] = "grader_error: the grader did not finish in 1800 s"
    (out / "ben.json").write_text(json.dumps(ben))
    grade(course, out)
    assert graded(course) == ["ann", "ben"]
    reasons = {
        s: json.loads((out / f"{s}.json").read_text())["extra_data"]["grade_repos"]
        for s in ("ann", "ben")
    }
    assert reasons["ann"]["regraded_because"] == "the grader changed"
    assert reasons["ben"]["regraded_because"] == "the grader failed last time"


def test_the_grader_fingerprint_follows_the_checks(tmp_path: Path) -> None:
    for rel in (*gh_reuse.GRADER_DIRS, *gh_reuse.GRADER_FILES):
        src = REPO_ROOT / rel
        if src.is_dir():
            shutil.copytree(src, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / rel)
    fingerprint = gh_reuse.grader_fingerprint.__wrapped__  # not the cached one of this process
    first = fingerprint(tmp_path)
    assert first == gh_reuse.grader_fingerprint(REPO_ROOT)
    check = next((tmp_path / "autograder/grading/checks").glob("check_*.py"))
    check.write_text(check.read_text() + "\n# a fixed check\n")
    assert fingerprint(tmp_path) != first


def test_a_repository_that_cannot_be_fetched_keeps_its_result(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out)
    before = snapshot(out)
    repos = course["root"] / "repos"
    (repos / "ann.git").rename(repos / "gone.git")
    messages: list[str] = []
    batch = gh_batch.grade_repos(
        roster=course["roster"],
        out_dir=out,
        deadline=DEADLINE,
        grader_command=[sys.executable, str(course["script"])],
        progress=messages.append,
    )
    assert snapshot(out)["ann.json"] == before["ann.json"]
    (ann,) = [r for r in batch.rows if r.student == "ann"]
    assert ann.reused and "repository not found" in ann.note
    assert any("ann: 100/100" in m and "the previous result is kept" in m for m in messages)


def test_results_of_another_folder_are_copied_as_they_were(course: dict) -> None:
    first, second = course["root"] / "run1", course["root"] / "run2"
    grade(course, first)
    batch = grade(course, second, previous=first)
    assert graded(course) == [] and len(batch.reused) == 3
    for name in ("ann.json", "ben.json", "cat.json"):
        assert (second / name).read_bytes() == (first / name).read_bytes()
    assert (second / "feedback" / "ann.md").is_file()
    assert (second / "submissions" / "ann" / EXERCISE_FILE).read_bytes() == (
        SOLUTION_PATH.read_bytes()
    )
    with pytest.raises(ValueError, match=r"--previous .*: no such folder of results"):
        grade(course, second, previous=course["root"] / "nope")


# ------------------------------------------------------------------------ the workflow's plan


def plan(course: dict, out: Path, *args: str) -> tuple[int, dict, str, str]:
    plan_dir = course["root"] / "plan"
    github_output = course["root"] / "github_output.txt"
    github_output.write_text("")
    code = cli_main(
        [
            *("plan-grading", str(course["roster"]), "--previous", str(out)),
            *("--out", str(plan_dir), "--deadline", DEADLINE, "--per-shard", "1"),
            *("--github-output", str(github_output), *args),
        ]
    )
    data = json.loads((plan_dir / "plan.json").read_text())
    return code, data, (plan_dir / "roster.csv").read_text(), github_output.read_text()


def test_the_plan_of_an_unchanged_class_grades_nobody(course: dict) -> None:
    out = course["root"] / "results"
    code, data, roster, output = plan(course, out)  # a first run: no previous results
    assert code == 0 and sorted(data["to_grade"]) == ["ann", "ben", "cat"]
    assert output == "changed=3\nshards=[1, 2, 3]\ntotal=3\n"
    grade(course, out)
    code, data, roster, output = plan(course, out)
    assert data["to_grade"] == {} and sorted(data["kept"]) == ["ann", "ben", "cat"]
    assert data["kept"]["cat"] == "unchanged (head none)"
    assert roster == "student,repo,deadline\n"
    assert output == "changed=0\nshards=[]\ntotal=0\n"


def test_the_plan_grades_whom_a_push_changed(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out)
    push_files(course["root"], "ben", {EXERCISE_FILE: SOLUTION_PATH.read_bytes()}, LATER)
    _, data, roster, output = plan(course, out)
    assert data["to_grade"] == {"ben": "new commits were pushed"}
    repo = course["root"] / "repos" / "ben.git"
    assert roster == f"student,repo,deadline\nben,{repo.resolve()},\n"
    assert output == "changed=1\nshards=[1]\ntotal=1\n"
    # the shard grades from the plan's roster, with the previous results
    plan_roster = course["root"] / "plan" / "roster.csv"
    grade(course, course["root"] / "shard", roster=plan_roster, previous=out)
    assert graded(course) == ["ben"]


def test_a_push_after_the_deadline_is_planned_once(course: dict) -> None:
    """The plan cannot tell a late push from one before the deadline without cloning: it grades;
    grade-repos then keeps the result (same commit to grade) and notes the new head, so that the
    next plan has nothing to do."""
    out = course["root"] / "results"
    grade(course, out)
    ann = (out / "ann.json").read_bytes()
    push_files(course["root"], "ann", {"notes.txt": b"late\n"}, AFTER)
    assert plan(course, out)[1]["to_grade"] == {"ann": "new commits were pushed"}
    grade(course, out)
    assert graded(course) == [] and (out / "ann.json").read_bytes() == ann
    assert plan(course, out)[1]["to_grade"] == {}


def test_the_plan_keeps_an_unreachable_student_and_stops_when_closed(course: dict) -> None:
    out = course["root"] / "results"
    grade(course, out)
    repos = course["root"] / "repos"
    (repos / "ann.git").rename(repos / "gone.git")
    _, data, _, _ = plan(course, out)
    assert data["to_grade"] == {}
    assert data["kept"]["ann"].startswith("repository not found: repos/ann.git")
    _, data, _, output = plan(course, out, "--force")
    assert sorted(data["to_grade"]) == ["ann", "ben", "cat"]
    _, data, _, output = plan(course, out, "--force", "--only-while-open")
    assert data["open"] is False and data["closes_at"] == DEADLINE  # the deadline has passed
    assert data["to_grade"] == {} and output == "changed=0\nshards=[]\ntotal=0\n"


def test_shards_are_sized_by_the_students_to_grade(course: dict) -> None:
    rows = gh_planning.read_roster(course["roster"])
    plan = gh_planning.plan_grading(
        roster=rows,
        previous_dir=course["root"] / "none-yet",
        out_dir=course["root"] / "plan",
        per_shard=2,
        max_shards=4,
    )
    assert (len(plan.to_grade), plan.shards) == (3, 2)
    with pytest.raises(ValueError, match="at least 1"):
        gh_planning.plan_grading(
            roster=rows, previous_dir=course["root"], out_dir=course["root"] / "p", per_shard=0
        )
