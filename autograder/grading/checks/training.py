"""compare_runs' two runs in the student process: the instrumented run on small data whose
protocol section 4 judges, and the Fashion-MNIST training whose models section 5 evaluates.

They are the longest probes of a grading, and the only ones that use an optimizer (whose
construction imports ``torch._dynamo``, 1.5-2 s, which the student process imports ahead:
``Sandbox.ahead``). ``start`` sends the protocol run and, as soon as it has answered, the
training, whose data the grader loads meanwhile. With a trainer (``GradingPlugin.trainer``, a
second student process) that happens before the first check, and the other checks' probes run
meanwhile in the first process; without one, before the first check of section 4. The checks of
sections 4 and 5 run last (``GradingPlugin``), so the grader has work while it waits.
"""

from __future__ import annotations

from typing import Any

import torch

from autograder.grading.data import Splits, grading_splits, standardise
from autograder.grading.settings import FMNIST_RUN as RUN
from autograder.sandbox import modelspec
from autograder.sandbox.replies import LayerDesc, TrainReply

# -- the instrumented run (section 4) ------------------------------------------------------------

PROTOCOL_PROBE = "compare_runs_protocol"
PROTOCOL_KEY = "main"
EPOCHS, LR, MAX_NORM, SEED, BATCH, VAL_BATCH = 2, 0.1, 0.5, 7, 32, 64
N_TRAIN, N_VAL = 150, 100
LAYERS = modelspec.mlp([10, 16, 16, 3])


def _protocol_data() -> dict[str, torch.Tensor]:
    """150 training samples (batches of 32, the last one of 22) and 100 validation samples."""
    g = torch.Generator().manual_seed(2024)
    teacher = torch.randn(10, 3, generator=g)
    x = 3.0 * torch.randn(N_TRAIN + N_VAL, 10, generator=g)
    y = (x @ teacher + 0.5 * torch.randn(N_TRAIN + N_VAL, 3, generator=g)).argmax(dim=1)
    return {
        "train_x": x[:N_TRAIN],
        "train_y": y[:N_TRAIN],
        "val_x": x[N_TRAIN:],
        "val_y": y[N_TRAIN:],
    }


def _with_batchnorm(reference) -> list[LayerDesc]:
    """The regularized model's layers, as the reference's add_batchnorm makes them (sent to the
    student process for the correct add_batchnorm that stands in for the student's)."""
    model = reference.add_batchnorm(modelspec.build_model(LAYERS))
    return [LayerDesc(d.type, d.cls, d.args) for d in modelspec.describe_model(model).layers]


def protocol_request(reference) -> dict[str, Any]:
    """The arguments of the instrumented run's probe."""
    return {
        "layers": LAYERS,
        "with_batchnorm": _with_batchnorm(reference),
        "batch_size": BATCH,
        "val_batch_size": VAL_BATCH,
        "epochs": EPOCHS,
        "lr": LR,
        "max_norm": MAX_NORM,
        "seed": SEED,
        **_protocol_data(),
    }


# -- the accuracy training (section 5) -----------------------------------------------------------

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


def selected_tags(session) -> set[str]:
    """The tags of the checks a pytest ``session`` runs (``--select`` may leave some out)."""
    return {m.args[0] for item in session.items for m in item.iter_markers("tag") if m.args}


# -- both, started ahead ------------------------------------------------------------------------


def start(grading, probe, reference, *, protocol: bool, training: bool) -> None:
    """Start what the selected checks need: the instrumented run, then the accuracy training,
    sent as soon as the run has answered (``then=``) with its data loaded meanwhile; or the
    training alone. With a trainer, before the first check; in the one student process, before
    the first check of section 4 (the checks of sections 4 and 5 run last)."""
    if not protocol:
        if training:
            start_training(grading, probe)
        return
    ready: dict[str, Any] = {}  # the training's request, once built

    def send_training() -> None:
        if "request" in ready:
            probe.start(PROBE, key=KEY, **ready["request"])

    then = send_training if training else None
    probe.start(PROTOCOL_PROBE, key=PROTOCOL_KEY, then=then, **protocol_request(reference))
    if training:
        try:
            ready["request"] = _request(grading)
        except Exception:
            pass  # splits() keeps the error: the accuracy checks raise it
