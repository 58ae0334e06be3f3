"""Section 5: the grader evaluates the models that compare_runs trained, on held-out images.

compare_runs runs in the student process on a Fashion-MNIST training subset; the trained models
come back as layer descriptions with their tensors, are rebuilt here from standard torch.nn layers
only (arguments checked against the tensors' shapes, under a parameter cap), and are evaluated
here, within a time budget, on the 10,000 official test images, which the student process never
sees.
"""

from __future__ import annotations

import time

import torch

from autograder.grading.checks.training import splits, trained_runs
from autograder.grading.data import standardise
from autograder.grading.feedback import Cause, CheckFailed, expect
from autograder.grading.markers import points, tag
from autograder.grading.settings import FMNIST_RUN as RUN
from autograder.sandbox.modelspec import RebuildError, build_model

pytestmark = tag("accuracy")

CHUNK = 1000  # test images per forward pass


def test_accuracy(grading, probe, name: str) -> float:
    """Rebuild the trained model ``name`` and return its accuracy on the test split."""
    reply = trained_runs(grading, probe)
    index = ("baseline", "regularized").index(name)
    steps = reply.steps_per_run[index] if index < len(reply.steps_per_run) else 0
    want_steps = RUN.epochs * -(-RUN.n_train // RUN.batch_size)
    expect(
        steps == want_steps,
        expected=f"the {name} model trained for {RUN.epochs} epochs of {RUN.n_train} images in "
        f"batches of {RUN.batch_size} ({want_steps} optimizer steps)",
        got=f"{steps} optimizer steps",
        hint="train for the epochs asked, one optimizer.step() per batch of train_loader.",
        cause=Cause(f"accuracy:steps:{name}", f"the {name} model was not trained as asked"),
    )
    history = reply.histories.runs.get(name)
    if history is None or not history.model.is_module or not history.model.layers:
        raise CheckFailed(
            expected=f"compare_runs to return the trained {name} model",
            got="no model in the history",
            hint='store the trained model under history["model"].',
        )
    try:
        model = build_model(history.model.layers, load_state=True)
    except RebuildError as exc:
        raise CheckFailed(
            expected=f"a {name} model the grader can rebuild from standard torch.nn layers",
            got=f"{exc}"[:400],
            hint="use torch.nn layers only (Linear, BatchNorm1d, ReLU, ...), no custom classes, "
            "and return the model you trained.",
        ) from None
    data = splits(grading)
    x = grading.cached("fmnist-test-x", lambda: standardise(data.test_x))  # (10000, 1, 28, 28)
    budget = RUN.evaluation_seconds * grading.context.get("timeout_scale", 1.0)
    model.eval()
    correct, started = 0, time.monotonic()
    try:
        with torch.no_grad():
            for i in range(0, len(x), CHUNK):
                logits = model(x[i : i + CHUNK])  # (CHUNK, 10)
                if logits.dim() != 2 or logits.shape[0] != len(x[i : i + CHUNK]):
                    raise ValueError(f"outputs of shape {tuple(logits.shape)}")
                correct += (logits.argmax(dim=1) == data.test_y[i : i + CHUNK]).sum().item()
                elapsed = time.monotonic() - started
                if elapsed * len(x) / (i + CHUNK) > budget:
                    raise CheckFailed(
                        expected=f"a {name} model the grader can evaluate on 10,000 images "
                        f"within {budget:.0f} s",
                        got=f"a model too large to evaluate ({elapsed:.1f} s for {i + CHUNK} "
                        "images)",
                        hint="train the model compare_runs builds (make_model, plus batch norms "
                        "in the regularized run), not a larger one.",
                    )
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(
            expected=f"the {name} model to classify (N, 1, 28, 28) test images into 10 classes",
            got=f"{type(exc).__name__}: {exc}"[:400],
            hint="return the model you trained, with its layers in working order.",
        ) from None
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
