"""Issue 16: where a grading's time goes (``grade --profile``), requests sent ahead of their
reply (``Sandbox.start_call``), the two ways of running the accuracy training, and notebooks
read without nbformat's import."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from autograder.grading.notebook_script import NotebookError, read_notebook
from autograder.grading.timeline import Timeline, render_timeline, timeline_json
from autograder.paths import REPO_ROOT, SOLUTION_PATH, TEMPLATE_PATH
from autograder.sandbox.client import Sandbox, StudentTimeout, SubmissionDoesNotImport
from autograder.sandbox.isolation import Limits
from tests.grading import grade

# -- the timeline --------------------------------------------------------------------------------


def test_busy_time_counts_overlapping_spans_once_and_lanes_keep_their_order():
    t = Timeline(origin=100.0)
    t.add("grader", "outer", 100.0, 104.0)
    t.add("grader", "inner", 101.0, 102.0)
    t.add("student", "import torch", 100.5, 103.0)
    t.add("student", "probe", 105.0, 106.0)
    t.add("student", "backwards", 107.0, 106.0)  # ends before it starts: dropped
    t.add("student", "nan", float("nan"), 1.0)  # not a time: dropped
    assert t.lanes() == ["grader", "student"]
    assert t.busy("grader") == pytest.approx(4.0)
    assert t.busy("student") == pytest.approx(3.5)
    assert t.wall() == pytest.approx(6.0)
    data = timeline_json(t)
    assert data["busy_seconds"] == {"grader": 4.0, "student": 3.5}
    assert len(data["spans"]) == 4
    complete = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert [e["dur"] for e in complete] == [4_000_000, 1_000_000, 2_500_000, 1_000_000]
    text = render_timeline(t, min_seconds=1.5)
    assert "outer" in text and "import torch" in text and "inner" not in text
    assert text.splitlines()[-1].startswith("wall 6.0 s")


def test_a_timeline_is_bounded():
    t = Timeline(origin=0.0, max_spans=3)
    for i in range(10):
        t.add("grader", "x" * 500, i, i + 1)
    assert len(t.spans) == 3 and all(len(s.name) == 120 for s in t.spans)


# -- requests sent ahead of their reply ------------------------------------------------------------


def _calls(record):
    return lambda lane, name, start, end: record.append((lane, name, start, end))


def test_start_call_then_call_receives_the_reply_and_the_spans_are_recorded(write_submission):
    path = write_submission(SOLUTION_PATH.read_text())
    spans: list[tuple[str, str, float, float]] = []
    with Sandbox(path, lane="trainer", record=_calls(spans)) as sandbox:
        sandbox.begin()
        sandbox.start_call("compute_grad_norm", timeout=30, grads=[torch.ones(4)], shapes=[[4]])
        with pytest.raises(RuntimeError, match="still running"):
            sandbox.call("clip_gradients", timeout=30)
        with pytest.raises(RuntimeError, match="is running"):
            sandbox.start_call("compute_grad_norm", timeout=30, grads=[], shapes=[])
        reply = sandbox.call("compute_grad_norm", timeout=30)
        assert reply["value"] == pytest.approx(2.0)
        # an ordinary call after it
        reply = sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(9)], shapes=[[9]])
        assert reply["value"] == pytest.approx(3.0)
    names = [name for lane, name, _, _ in spans]
    assert {lane for lane, *_ in spans} == {"trainer"}
    assert names[:3] == ["start python", "import torch", "import the submission"]
    assert names.count("compute_grad_norm") == 2
    assert all(start <= end for _, _, start, end in spans)


def test_what_goes_wrong_in_start_call_is_raised_by_the_call(write_submission):
    path = write_submission("import torch\nraise RuntimeError('broken at import')\n")
    with Sandbox(path) as sandbox:
        sandbox.start_call("compute_grad_norm", timeout=30, grads=[torch.ones(4)], shapes=[[4]])
        with pytest.raises(SubmissionDoesNotImport, match="broken at import"):
            sandbox.call("compute_grad_norm", timeout=30)


def test_a_started_call_keeps_its_time_limit(write_submission):
    source = SOLUTION_PATH.read_text().replace(
        "def compute_grad_norm(",
        "def compute_grad_norm(*a, **k):\n    while True:\n        pass\n\n\ndef _unused(",
        1,
    )
    path = write_submission(source)
    with Sandbox(path, limits=Limits(timeout_scale=1.0)) as sandbox:
        sandbox.import_report()
        sandbox.start_call("compute_grad_norm", timeout=2, grads=[torch.ones(4)], shapes=[[4]])
        time.sleep(2.5)  # the grader does other work meanwhile
        started = time.monotonic()
        with pytest.raises(StudentTimeout):
            sandbox.call("compute_grad_norm", timeout=2)
        assert time.monotonic() - started < 1.5  # the limit ran from when it was sent


# -- grade --profile and the two training modes ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("training", ["shared", "separate"])
def test_grade_profile_writes_a_timeline_of_both_processes(tmp_path, training):
    profile = tmp_path / "profile.json"
    cmd = [sys.executable, "-m", "autograder", "grade", str(SOLUTION_PATH)]
    cmd += ["--out", str(tmp_path / "results.json"), "--profile", str(profile)]
    cmd += ["--training", training]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 110.0
    data = json.loads(profile.read_text())
    spans = {(s["lane"], s["name"]) for s in data["spans"]}
    assert ("grader", "import pytest, torch and the checks' helpers") in spans
    assert ("grader", "load Fashion-MNIST") in spans
    assert ("grader", "write the results") in spans
    assert ("student", "import torch") in spans
    assert ("student", "import the submission") in spans
    assert any(lane == "grader" and name.startswith("check 5.1") for lane, name in spans)
    trainer_lane = "trainer" if training == "separate" else "student"
    assert (trainer_lane, "compare_runs_train") in spans
    assert ("trainer" in data["busy_seconds"]) == (training == "separate")
    assert data["cpu_seconds"]["grader"] > 0
    assert any(e["ph"] == "X" for e in data["traceEvents"])
    assert "timeline written to" in proc.stdout and "wall " in proc.stdout
    if training == "separate":
        assert results["extra_data"]["trainer_process_starts"] == 1
    # compare_runs' runs are the trainer's (both of them); the checks that wait for them run
    # after the others, and every check is still reported in its numbered place
    assert (trainer_lane, "compare_runs_protocol") in spans
    assert ("student", "compare_runs_protocol") not in spans or training == "shared"
    started = {
        span["name"].split()[1]: span["start"]
        for span in data["spans"]
        if span["lane"] == "grader" and span["name"].startswith("check ")
    }
    assert started["6.1"] < started["4.1"] < started["5.1"]
    numbers = [tuple(map(int, t["number"].split("."))) for t in results["tests"]]
    assert numbers == sorted(numbers) and len(numbers) == 32


@pytest.mark.slow
def test_the_separate_trainer_grades_like_the_shared_process(tmp_path):
    """The training runs in its own process only with --training separate; its verdicts are the
    same, a mistake in compare_runs' training is found either way."""
    step = "                optimizer.step()\n"
    broken = SOLUTION_PATH.read_text().replace(step, step.replace("optimizer.step()", "pass"))
    assert broken != SOLUTION_PATH.read_text()
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "batchnorm_gradclip_exercise.py").write_text(broken)
    scores = {}
    for training in ("shared", "separate"):
        out = tmp_path / f"{training}.json"
        cmd = [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out)]
        cmd += ["--quiet", "--training", training]
        subprocess.run(cmd, cwd=REPO_ROOT, check=True, timeout=600, capture_output=True)
        results = json.loads(out.read_text())
        scores[training] = {t["number"]: (t["score"], t["output"]) for t in results["tests"]}
    assert scores["shared"] == scores["separate"]
    assert scores["shared"]["5.1"][0] == 0


@pytest.mark.slow
def test_the_template_is_graded_with_a_profile_too(tmp_path):
    g = grade(TEMPLATE_PATH, tmp_path / "r.json")
    assert g.returncode == 0 and g.results["score"] == 0


# -- notebooks read as JSON ------------------------------------------------------------


def test_a_v4_notebook_is_read_without_importing_nbformat(tmp_path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": ["x = 1\n", "y = 2\n"], "outputs": []}
        ],
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    code = (
        "import sys; from autograder.grading.notebook_script import read_notebook; "
        f"nb = read_notebook({str(path)!r}); print(nb.cells[0]['source'] == 'x = 1\\ny = 2\\n', "
        "'nbformat' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False"]


def test_broken_and_older_notebooks(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text("{not json")
    with pytest.raises(NotebookError, match="not a readable Jupyter notebook"):
        read_notebook(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(NotebookError, match="not a readable Jupyter notebook"):
        read_notebook(path)
    path.write_text(json.dumps({"nbformat": 4, "cells": "nope"}))
    with pytest.raises(NotebookError, match="no list of cells"):
        read_notebook(path)
    path.write_text(json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}))
    with pytest.raises(NotebookError, match="source is not text"):
        read_notebook(path)
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "code", "input": "z = 3\n", "outputs": [], "language": "python"}
                ]
            }
        ],
    }
    path.write_text(json.dumps(v3))
    nb = read_notebook(path)  # converted by nbformat
    assert nb.cells[0]["source"] == "z = 3\n"
