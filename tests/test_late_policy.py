"""Deadlines per student (the roster's ``deadline`` column) and the late policy (``--late-days N
--late-penalty P``): which commit is graded, ``raw_score``, ``late_days``, ``penalty`` and
``score`` in the results, the feedback and the commit status."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder.cli import main as cli_main
from autograder.github import batch as gh_batch
from autograder.github import roster as gh_roster
from autograder.github import statuses as gh_statuses
from autograder.github.deadlines import LatePolicy
from autograder.paths import EXERCISE_FILE, SOLUTION_PATH
from tests.student_repos import BEFORE, DEADLINE, FAKE_GRADER, partial_solution, student_repo

ONE_DAY_LATE = "2026-11-02T09:00:00+00:00"  # 21 hours after DEADLINE: one started day
FOUR_DAYS_LATE = "2026-11-05T10:00:00+00:00"


def test_started_days_and_penalty() -> None:
    deadline = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    policy = LatePolicy(days=3, penalty_percent=10)
    assert policy.days_late(deadline, deadline) == 0
    assert policy.days_late(deadline + timedelta(minutes=1), deadline) == 1
    assert policy.days_late(deadline + timedelta(days=1), deadline) == 1
    assert policy.days_late(deadline + timedelta(days=1, seconds=1), deadline) == 2
    assert policy.days_late(deadline + timedelta(days=9), None) == 0
    assert policy.penalty(2, 100.0) == 20.0
    assert policy.cutoff(deadline) == deadline + timedelta(days=3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--late-days", "-1"], "--late-days must be 0 or more"),
        (["--late-days", "2", "--late-penalty", "150"], "between 0 and 100"),
        (["--late-penalty", "10"], "--late-penalty needs --late-days N"),
    ],
)
def test_bad_late_policies_are_usage_errors(
    tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("student,repo\nann,nowhere\n", encoding="utf-8")
    assert cli_main(["grade-repos", str(roster), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_roster_deadlines_are_checked() -> None:
    rows = gh_roster.parse_roster(
        "student,repo,deadline\nann,a,2026-11-03T12:00:00+01:00\nben,b,\n"
    )
    assert rows[0].deadline == datetime(2026, 11, 3, 11, tzinfo=timezone.utc)
    assert rows[1].deadline is None
    for bad, message in (("next week", "not an ISO-8601 date/time"), ("none", "'none' is for")):
        with pytest.raises(gh_roster.RosterError, match=message):
            gh_roster.parse_roster(f"student,repo,deadline\nann,a,{bad}\n")


@pytest.fixture(scope="module")
def late_class(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Graded with a late policy of 2 days at 10 % a day; one student has an extension."""
    root = tmp_path_factory.mktemp("late")
    solution = SOLUTION_PATH.read_bytes()
    history = [(BEFORE, {EXERCISE_FILE: partial_solution()})]
    _, day = student_repo(root, "day", [*history, (ONE_DAY_LATE, {EXERCISE_FILE: solution})])
    _, four = student_repo(root, "four", [*history, (FOUR_DAYS_LATE, {EXERCISE_FILE: solution})])
    _, ext = student_repo(root, "ext", [*history, (ONE_DAY_LATE, {EXERCISE_FILE: solution})])
    roster = root / "roster.csv"
    roster.write_text(
        "student,repo,deadline\nday,repos/day.git,\nfour,repos/four.git,\n"
        "ext,repos/ext.git,2026-11-04T12:00:00+00:00\n",
        encoding="utf-8",
    )
    script = root / "fake_grader.py"
    script.write_text(FAKE_GRADER, encoding="utf-8")
    out = root / "results"
    gh_batch.grade_repos(
        roster=roster,
        out_dir=out,
        deadline=DEADLINE,
        late_policy=LatePolicy(days=2, penalty_percent=10),
        grader_command=[sys.executable, str(script)],
        progress=lambda msg: None,
    )
    rows = {s: json.loads((out / f"{s}.json").read_text()) for s in ("day", "four", "ext")}
    with (out / "summary.csv").open(newline="") as f:
        summary = {r["student"]: r for r in csv.DictReader(f)}
    return {"rows": rows, "summary": summary, "out": out, "shas": (day, four, ext)}


def test_a_commit_within_the_late_days_is_graded_with_a_penalty(late_class: dict) -> None:
    day = late_class["rows"]["day"]
    assert day["commit"] == late_class["shas"][0][-1]
    assert (day["raw_score"], day["late_days"], day["penalty"], day["score"]) == (
        100.0,
        1,
        10.0,
        90.0,
    )
    assert day["late"] is True and day["deadline"] == DEADLINE
    row = late_class["summary"]["day"]
    assert (row["score"], row["raw_score"], row["late_days"], row["penalty"]) == (
        "90",
        "100",
        "1",
        "10",
    )
    feedback = (late_class["out"] / "feedback" / "day.md").read_text()
    assert "**Score: 90/100 after the late penalty (100/100, minus 10 for 1 day late)**" in feedback
    assert "Your graded commit came 1 day after your deadline: 10 points were taken off." in (
        feedback
    )
    assert gh_statuses.status_of(day) == ("failure", "Score 90/100 (100/100, -10 late)")


def test_a_commit_after_the_late_days_is_not_graded(late_class: dict) -> None:
    four = late_class["rows"]["four"]
    assert four["commit"] == late_class["shas"][1][1]  # the partial work, on time
    assert (four["raw_score"], four["late_days"], four["penalty"], four["score"]) == (
        50.0,
        0,
        0.0,
        50.0,
    )
    assert four["late"] is True
    assert four["extra_data"]["grade_repos"]["late_commits"] == [late_class["shas"][1][-1]]
    feedback = (late_class["out"] / "feedback" / "four.md").read_text()
    assert "1 commit(s) came after the last moment work is graded and were not graded." in (
        feedback
    )


def test_an_extension_moves_the_deadline(late_class: dict) -> None:
    ext = late_class["rows"]["ext"]
    assert ext["deadline"] == "2026-11-04T12:00:00+00:00"
    assert ext["commit"] == late_class["shas"][2][-1]
    assert (ext["score"], ext["late_days"], ext["penalty"], ext["late"]) == (100.0, 0, 0.0, False)
    assert late_class["summary"]["ext"]["deadline"] == "2026-11-04T12:00:00+00:00"
    assert late_class["summary"]["ext"]["late"] == "false"
    assert gh_statuses.status_of(ext)[0] == "success"


def test_the_penalty_never_goes_below_zero(tmp_path: Path) -> None:
    root = tmp_path
    student_repo(root, "zero", [(FOUR_DAYS_LATE, {EXERCISE_FILE: partial_solution()})])
    script = root / "fake_grader.py"
    script.write_text(FAKE_GRADER, encoding="utf-8")
    batch = gh_batch.grade_repos(
        roster=gh_roster.parse_roster(f"student,repo\nzero,{root / 'repos' / 'zero.git'}\n"),
        out_dir=root / "out",
        deadline=DEADLINE,
        late_policy=LatePolicy(days=5, penalty_percent=30),
        grader_command=[sys.executable, str(script)],
        progress=lambda msg: None,
    )
    data = batch.rows[0].to_json()
    assert (data["raw_score"], data["late_days"], data["penalty"], data["score"]) == (
        50.0,
        4,
        120.0,
        0.0,
    )
