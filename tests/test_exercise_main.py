"""Running the exercise file trains both models on Fashion-MNIST and saves the figure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.grading.data import exercise_utils
from autograder.paths import SOLUTION_PATH, TEMPLATE_PATH


@pytest.mark.slow
@pytest.mark.skipif(
    not exercise_utils().DEBIAN_DIR.exists(), reason="dataset-fashion-mnist not installed"
)
def test_reference_experiment_runs_end_to_end(tmp_path):
    out = tmp_path / "runs.png"
    proc = subprocess.run(
        [sys.executable, str(SOLUTION_PATH), "--n-train", "1024", "--n-val", "256",
         "--epochs", "2", "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "baseline" in proc.stdout and "regularized" in proc.stdout
    assert "clipping was active on" in proc.stdout
    assert out.stat().st_size > 10_000


def test_template_experiment_stops_at_the_first_todo(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TEMPLATE_PATH), "--n-train", "256", "--n-val", "64",
         "--epochs", "1", "--out", str(tmp_path / "runs.png")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "not implemented yet. Hint:" in proc.stderr
