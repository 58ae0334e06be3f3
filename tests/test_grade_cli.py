"""The grade command's edges: nothing to grade, nothing importable, a grader that crashes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.cli import main
from autograder.grading import runner as grade_module
from autograder.paths import REPO_ROOT
from tests.grading import grade


def test_missing_submission_is_could_not_grade_with_every_check_listed(tmp_path):
    g = grade(tmp_path / "nowhere", tmp_path / "r.json")
    assert g.returncode == 0
    r = g.results
    assert r["score"] == 0 and r["max_score"] == 100
    assert r["extra_data"]["grading_status"] == "could_not_grade"
    assert "does not exist" in r["output"]
    assert len(r["tests"]) >= 30 and all(t["status"] == "failed" for t in r["tests"])


def test_directory_without_the_exercise(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.py").write_text("x = 1\n")
    g = grade(tmp_path / "sub", tmp_path / "r.json")
    assert g.returncode == 0
    assert "no batchnorm_gradclip_exercise.py" in g.results["output"]


@pytest.mark.slow
def test_syntax_error_is_zero_with_the_line(tmp_path):
    (tmp_path / "batchnorm_gradclip_exercise.py").write_text(
        "import torch\n\n\ndef add_batchnorm(model)\n    return model\n"
    )
    g = grade(tmp_path, tmp_path / "r.json")
    assert g.returncode == 0
    r = g.results
    assert r["score"] == 0 and r["extra_data"]["grading_status"] == "could_not_grade"
    assert "SyntaxError" in r["output"] and "line 4" in r["output"]
    assert all("could not be imported" in t["output"] for t in r["tests"][1:])


def test_grader_crash_still_writes_a_valid_results_file(tmp_path, monkeypatch, capsys):
    def explode(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(grade_module, "grade_submission", explode)
    monkeypatch.setattr(grade_module, "kill_descendants", lambda: 0)
    code = main(["grade", str(tmp_path), "--out", str(tmp_path / "r.json"), "--quiet"])
    assert code == 1
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["score"] == 0 and r["tests"][0]["status"] == "failed"
    assert "could not grade" in r["tests"][0]["name"].lower()
    assert "disk on fire" in r["extra_data"]["traceback"]
    assert "grader error" in capsys.readouterr().err


def test_usage_errors_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 2 and "usage" in proc.stderr
