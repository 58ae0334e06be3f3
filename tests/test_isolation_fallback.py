"""When bubblewrap cannot run: ``--isolation bwrap`` is a grader error, ``auto`` falls back.

bubblewrap is looked for at fixed absolute paths only (a ``PATH`` must not choose the
sandbox), so a failing one is put there by patching ``isolation.BWRAP_PATHS`` in this process.
"""

from __future__ import annotations

import json

import pytest

from autograder.cli import main
from autograder.grading import runner as grade_module
from autograder.paths import REPO_ROOT
from autograder.sandbox import isolation


@pytest.fixture
def failing_bwrap(tmp_path, monkeypatch):
    """A bwrap that fails the way it does under Ubuntu's AppArmor restriction."""
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(isolation, "BWRAP_PATHS", (str(fake),))
    monkeypatch.setattr(grade_module, "kill_descendants", lambda: 0)  # pytest's own children
    isolation.bwrap_problem.cache_clear()
    yield fake
    isolation.bwrap_problem.cache_clear()


def test_a_bwrap_on_path_is_never_used(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    isolation.bwrap_problem.cache_clear()
    try:
        problem = isolation.bwrap_problem()
    finally:
        isolation.bwrap_problem.cache_clear()
    assert problem is None or str(fake) not in problem


def test_forced_bwrap_that_cannot_run_is_a_grader_error_not_a_zero(failing_bwrap, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["grade", str(REPO_ROOT / "solutions"), "--out", str(out), "--isolation", "bwrap"]
    code = main([*args, "--quiet"])
    assert code == 1
    r = json.loads(out.read_text())
    assert r["score"] == 0 and r["extra_data"]["grading_status"] == "grader_error"
    assert "uid map: Permission denied" in r["extra_data"]["reason"]
    assert "not your fault" in r["output"] and "could not grade" in r["tests"][0]["name"].lower()
    assert "grader error" in capsys.readouterr().err


@pytest.mark.slow
def test_auto_isolation_falls_back_to_process_with_a_warning(failing_bwrap, tmp_path, capsys):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "batchnorm_gradclip_exercise.py").write_text("import torch\n")
    out = tmp_path / "r.json"
    code = main(["grade", str(sub), "--out", str(out), "--select", "integrity", "--quiet"])
    assert code == 0
    r = json.loads(out.read_text())
    assert r["extra_data"]["isolation"] == "process"
    assert "uid map" in r["extra_data"]["isolation_note"]
    # the first process, started in bubblewrap before its trial failed, is not a restart
    assert r["extra_data"]["process_starts"] == 1
    assert r["tests"][0]["score"] == r["tests"][0]["max_score"]
    err = capsys.readouterr().err
    assert "warning:" in err and "resource limits only" in err
