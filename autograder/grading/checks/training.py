"""The compare_runs training whose models the accuracy checks evaluate (section 5).

It is the longest probe of a grading, so it runs in a student process of its own
(``GradingPlugin.trainer``), started by ``start_training`` before the first check and
collected by ``trained_runs`` when the accuracy checks need it; meanwhile the other checks run.
"""

from __future__ import annotations

from typing import Any

from autograder.grading.data import Splits, grading_splits, standardise
from autograder.grading.settings import FMNIST_RUN as RUN
from autograder.sandbox.replies import TrainReply

PROBE = "compare_runs_train"
KEY = "fmnist"


def splits(grading) -> Splits:
    """The grader's Fashion-MNIST subsets (training, validation) and its test split."""

    def load() -> Splits:
        with grading.timeline.span("load Fashion-MNIST"):
            return grading_splits(
                n_train=RUN.n_train,
                n_val=RUN.n_val,
                seed=RUN.subset_seed,
                root=grading.context.get("data_root"),
            )

    return grading.cached("fmnist-splits", load)


def _request(grading) -> dict[str, Any]:
    data = splits(grading)
    return {
        "layers": RUN.layers,
        "train_x": standardise(data.train_x),  # (n_train, 1, 28, 28) float32
        "train_y": data.train_y,
        "val_x": standardise(data.val_x),
        "val_y": data.val_y,
        "batch_size": RUN.batch_size,
        "val_batch_size": RUN.val_batch_size,
        "epochs": RUN.epochs,
        "lr": RUN.lr,
        "max_norm": RUN.max_norm,
        "seed": RUN.seed,
    }


def start_training(grading, probe) -> None:
    """Send the training request now; ``trained_runs`` receives the trained models later.

    Whatever goes wrong here (no data set, a submission that does not import) is left for
    the accuracy checks to report, when they ask for the models.
    """
    try:
        request = _request(grading)
    except Exception:
        return  # splits() keeps the error: the accuracy checks raise it
    probe.start(PROBE, key=KEY, **request)


def trained_runs(grading, probe) -> TrainReply:
    """compare_runs' two trained runs (the reply to ``start_training``'s request, if sent)."""
    return probe(PROBE, key=KEY, lazy_kwargs=lambda: _request(grading))
