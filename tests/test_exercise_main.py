"""The student's experiment: its command line, metrics.json, figure and summary, and helpers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from autograder.grading.data import exercise_utils
from autograder.paths import SOLUTION_PATH, TEMPLATE_PATH

utils = exercise_utils()
needs_data = pytest.mark.skipif(
    not utils.DEBIAN_DIR.exists(), reason="dataset-fashion-mnist not installed"
)
RUN_KEYS = {"train_loss", "val_loss", "val_acc", "grad_norm"}


def strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=reject)


@pytest.mark.slow
@needs_data
def test_reference_experiment_writes_the_figure_and_metrics(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SOLUTION_PATH), "--n-train", "1000", "--n-val", "256",
         "--epochs", "2", "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "baseline" in proc.stdout and "regularized" in proc.stdout
    assert "clipping was active on" in proc.stdout and "95th percentile" in proc.stdout
    assert (out / "runs.png").stat().st_size > 10_000
    metrics = strict_json(out / "metrics.json")  # CONTRACT section 4: exactly this shape
    assert set(metrics) == {"max_norm", "baseline", "regularized"}
    assert metrics["max_norm"] == utils.ExperimentSettings().max_norm
    steps = 2 * (1000 // 64)  # drop_last: 15 full batches of 64 per epoch
    for run in ("baseline", "regularized"):
        assert set(metrics[run]) == RUN_KEYS
        assert [len(metrics[run][k]) for k in ("train_loss", "val_loss", "val_acc")] == [2, 2, 2]
        assert len(metrics[run]["grad_norm"]) == steps
        assert all(isinstance(v, float) for k in RUN_KEYS for v in metrics[run][k])


@pytest.mark.slow
@needs_data
def test_unstable_preset_makes_the_baseline_diverge(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SOLUTION_PATH), "--unstable", "--n-train", "3200", "--n-val", "500",
         "--epochs", "1", "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = strict_json(out / "metrics.json")
    assert None in metrics["baseline"]["grad_norm"], "the baseline's norms stayed finite"
    assert "the baseline run diverged" in proc.stdout
    assert metrics["regularized"]["val_acc"][-1] > 0.6, proc.stdout


def test_template_experiment_stops_at_the_first_todo(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(TEMPLATE_PATH), "--n-train", "256", "--n-val", "64",
         "--epochs", "1", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "not implemented yet. Hint:" in proc.stderr


def test_settings_defaults_and_the_unstable_preset():
    assert utils.experiment_settings([]) == utils.ExperimentSettings()
    assert utils.experiment_settings(["--unstable"]).lr == utils.UNSTABLE_LR
    assert utils.experiment_settings(["--unstable", "--lr", "0.3"]).lr == 0.3
    settings = utils.experiment_settings(["--max-norm", "1e9", "--out", "x", "--seed", "2"])
    assert (settings.max_norm, settings.out, settings.seed) == (1e9, "x", 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "must be a finite number > 0"),
        (["--lr", "-1"], "must be a finite number > 0"),
        (["--max-norm", "inf"], "must be a finite number > 0"),
        (["--lr", "fast"], "is not a number"),
        (["--batch-size", "1"], "--batch-size must be at least 2"),
        (["--n-train", "10"], "--n-train (10) must be at least --batch-size"),
        (["--n-train", "58000", "--n-val", "5000"], "at most 60000"),
    ],
)
def test_bad_settings_end_with_one_error_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        utils.experiment_settings(args)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("batchnorm_gradclip_exercise.py: error:") and message in error


def histories(baseline_norms: list[float]) -> dict:
    run = {"train_loss": [2.3, 1.0], "val_loss": [2.2, 1.1], "val_acc": [0.4, 0.6]}
    return {
        "baseline": {**run, "grad_norm": baseline_norms, "model": torch.nn.Linear(1, 1)},
        "regularized": {**run, "grad_norm": [3.0, 1.0, 0.5, 2.0]},
    }


def test_metrics_are_strict_json_without_the_models(tmp_path: Path):
    path = utils.save_metrics(
        histories([1.0, math.inf, math.nan, 2.0]), max_norm=1.5, path=tmp_path / "a" / "m.json"
    )
    metrics = strict_json(path)
    assert metrics["max_norm"] == 1.5 and set(metrics["baseline"]) == RUN_KEYS
    assert metrics["baseline"]["grad_norm"] == [1.0, None, None, 2.0]


def test_clipping_summary_and_verdicts():
    h = histories([1.0, 2.0, 3.0, 4.0])
    line = utils.clipping_summary(h["regularized"], 1.5)
    assert line.startswith("clipping was active on 2/4 steps (50.0%) of the regularized run")
    assert "median 1.00, 95th percentile 3.00, threshold 1.5" in line
    assert utils.clipped_steps([1.0, math.nan, math.inf, 0.2], 1.0) == 2
    assert utils.run_verdicts(h) == []
    h["baseline"]["train_loss"] = [2.3, math.nan]
    h["regularized"]["val_acc"] = [0.1, 0.11]
    verdicts = utils.run_verdicts(h)
    assert verdicts[0].startswith("the baseline run diverged: its training loss is not finite")
    assert verdicts[1].startswith("the regularized run ended near chance level (11.0%")


def test_progress_loader_gives_the_loaders_batches_in_the_same_order():
    data = TensorDataset(torch.arange(40.0), torch.arange(40))
    loader = DataLoader(data, batch_size=8, shuffle=True)
    orders = []
    for wrapped in (loader, utils.ProgressLoader(loader, epochs=1)):
        torch.manual_seed(5)
        orders.append([y.tolist() for _, y in wrapped])
    assert orders[0] == orders[1], "the progress bar changed the shuffling"
    assert len(utils.ProgressLoader(loader, epochs=1)) == len(loader) == 5


@needs_data
def test_training_loader_drops_the_short_last_batch(tmp_path: Path):
    train, val = utils.fashion_mnist_loaders(
        n_train=150, n_val=70, batch_size=64, root=tmp_path / "data"
    )
    assert [len(y) for _, y in train] == [64, 64]
    assert sum(len(y) for _, y in val) == 70
    with pytest.raises(ValueError, match="no complete training batch"):
        utils.fashion_mnist_loaders(n_train=50, n_val=10, batch_size=64, root=tmp_path / "data")
