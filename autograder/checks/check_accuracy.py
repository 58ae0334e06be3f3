"""Section 5: the grader evaluates the models that compare_runs trained, on held-out images.

compare_runs runs in the student process on a Fashion-MNIST training subset; the trained models
come back as layer descriptions and state dicts, are rebuilt here from standard torch.nn layers
only, and are evaluated here on the 10,000 official test images, which the student process never
sees.
"""

from __future__ import annotations

import torch

from autograder.data import grading_splits, standardise
from autograder.feedback import CheckFailed, expect
from autograder.markers import points, tag
from autograder.sandbox import modelspec
from autograder.settings import FMNIST_RUN as RUN

pytestmark = tag("accuracy")


def _splits(grading):
    return grading.cached(
        "fmnist-splits",
        lambda: grading_splits(
            n_train=RUN.n_train,
            n_val=RUN.n_val,
            seed=RUN.subset_seed,
            root=grading.context.get("data_root"),
        ),
    )


def trained_runs(grading, probe) -> dict:
    splits = _splits(grading)
    return probe(
        "compare_runs_train",
        key="fmnist",
        layers=RUN.layers,
        train_x=standardise(splits.train_x),
        train_y=splits.train_y,
        val_x=standardise(splits.val_x),
        val_y=splits.val_y,
        batch_size=RUN.batch_size,
        epochs=RUN.epochs,
        lr=RUN.lr,
        max_norm=RUN.max_norm,
        seed=RUN.seed,
    )


def test_accuracy(grading, probe, name: str) -> float:
    """Rebuild the trained model ``name`` and return its accuracy on the test split."""
    runs = trained_runs(grading, probe).get("runs") or {}
    desc = (runs.get(name) or {}).get("model")
    if not desc or not desc.get("layers"):
        raise CheckFailed(
            expected=f"compare_runs to return the trained {name} model",
            got="no model in the history",
            hint='store the trained model under history["model"].',
        )
    try:
        model = modelspec.build_model(desc["layers"], desc["state"])
    except Exception as exc:
        raise CheckFailed(
            expected=f"a {name} model made of standard torch.nn layers",
            got=f"a model the grader cannot rebuild ({type(exc).__name__}: {exc})"[:400],
            hint="use torch.nn layers only (Linear, BatchNorm1d, ReLU, ...), no custom classes.",
        ) from None
    splits = _splits(grading)
    model.eval()
    with torch.no_grad():
        x = standardise(splits.test_x)  # (10000, 1, 28, 28)
        correct = sum(
            (model(x[i : i + 2000]).argmax(dim=1) == splits.test_y[i : i + 2000]).sum().item()
            for i in range(0, len(x), 2000)
        )
    return correct / len(x)


@points(10)
def check_regularized_accuracy(grading, probe):
    """accuracy: the regularized model trained by compare_runs generalises to held-out images"""
    acc = test_accuracy(grading, probe, "regularized")
    expect(
        acc >= RUN.min_regularized_accuracy,
        expected=f"at least {RUN.min_regularized_accuracy:.0%} accuracy on 10,000 held-out "
        f"Fashion-MNIST test images after {RUN.epochs} epochs on {RUN.n_train} training images",
        got=f"{acc:.1%}",
        hint="the model must actually learn: check zero_grad/backward/step order, the learning "
        "rate you pass to SGD, that clipping uses max_norm, and that the model you return is the "
        "one you trained (in eval mode its BatchNorm uses running statistics).",
    )


@points(2)
def check_baseline_accuracy(grading, probe):
    """accuracy: the baseline model trained by compare_runs generalises to held-out images"""
    acc = test_accuracy(grading, probe, "baseline")
    expect(
        acc >= RUN.min_baseline_accuracy,
        expected=f"at least {RUN.min_baseline_accuracy:.0%} test accuracy for the baseline",
        got=f"{acc:.1%}",
        hint="train the baseline exactly like the regularized model, without batch norm and "
        "without clipping.",
    )
