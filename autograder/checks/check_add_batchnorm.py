"""Section 1: add_batchnorm."""

from __future__ import annotations

import torch

from autograder.feedback import expect, max_abs_diff, tensors_close
from autograder.markers import points, tag
from autograder.sandbox import modelspec

pytestmark = tag("add_batchnorm")

CONV_CNN = [
    {"type": "Conv2d", "in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "in_channels": 6, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 8 * 4 * 4, "out_features": 16},
    {"type": "ReLU"},
    {"type": "Linear", "in_features": 16, "out_features": 5},
]
ALL_CONV = [  # the output layer is a Conv2d: no batch norm after it
    {"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
    {"type": "Tanh"},
    {"type": "Conv2d", "in_channels": 4, "out_channels": 2, "kernel_size": 1},
    {"type": "Flatten"},
]
MLP_EXTRAS = [  # other layers must be kept, in order
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 12, "out_features": 16},
    {"type": "ReLU"},
    {"type": "Dropout", "p": 0.0},
    {"type": "Linear", "in_features": 16, "out_features": 8, "bias": False},
    {"type": "Identity"},
    {"type": "Tanh"},
    {"type": "Linear", "in_features": 8, "out_features": 5},
]
MODELS = {
    "MLP with 1 Linear": (modelspec.mlp([12, 5]), (12,)),
    "MLP with 2 Linear": (modelspec.mlp([12, 16, 5]), (12,)),
    "MLP with 4 Linear (tanh)": (modelspec.mlp([12, 16, 16, 8, 5], activation="Tanh"), (12,)),
    "MLP with Flatten/Dropout/Identity": (MLP_EXTRAS, (12,)),
    "CNN": (CONV_CNN, (3, 8, 8)),
    "all-convolutional net": (ALL_CONV, (3, 6, 6)),
}
MLPS = [name for name in MODELS if name.startswith("MLP")]
CNNS = ["CNN", "all-convolutional net"]
SEED = 3


def _inputs(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    x = 2.0 * torch.randn(16, *shape, generator=g) + 0.5
    x_other = x.clone()
    x_other[1:] = 3.0 * torch.randn(15, *shape, generator=g) - 1.0  # same first sample only
    return x, x_other


def observed(probe, name: str) -> dict:
    layers, shape = MODELS[name]
    x, x_other = _inputs(shape)
    return probe("add_batchnorm", key=name, layers=layers, seed=SEED, x=x, x_other=x_other)


def expected(reference, name: str) -> dict:
    """The reference's answer, computed here (trusted process) on the same seeded model."""
    layers, shape = MODELS[name]
    x, _ = _inputs(shape)
    torch.manual_seed(SEED)
    original = modelspec.build_model(layers)
    model = reference.add_batchnorm(original)
    out = {
        "original": modelspec.describe_model(original),
        "result": modelspec.describe_model(model),
    }
    model.train()
    out["y_train"] = model(x).detach()
    out["buffers_after_train"] = _buffers(model)
    model.eval()
    with torch.no_grad():
        out["y_eval"] = model(x)
    return out


def forward_observed(probe, name: str) -> dict:
    """``observed``, after checking that the new model could run forward at all."""
    got = observed(probe, name)
    expect(
        "forward_error" not in got,
        expected=f"forward passes through the new {name}",
        got=got.get("forward_error", ""),
        hint="check the num_features of each batch norm (BatchNorm2d after Conv2d).",
    )
    return got


def _buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}


def _types(desc: dict) -> list[str]:
    return [
        layer.get("type") if layer.get("type") != "unknown" else layer["class"]
        for layer in desc["layers"]
    ]


def _structure_ok(got: dict, want: dict) -> bool:
    return got["result"]["is_sequential"] and _types(got["result"]) == _types(want["result"])


@points(2)
def check_returns_new_sequential(probe):
    """add_batchnorm returns a new nn.Sequential (not the model it was given)"""
    for name in ("MLP with 2 Linear", "CNN"):
        got = observed(probe, name)
        expect(
            got["result"]["is_sequential"] and not got["same_object"],
            expected=f"a new torch.nn.Sequential for the {name}",
            got="the same object that was passed in"
            if got["same_object"]
            else f"an object of class {got['result']['class']}",
            hint="build a Python list of layers and return nn.Sequential(*layers).",
        )


@points(3)
def check_input_model_untouched(probe, reference):
    """The input model is left untouched and shares no parameters with the result"""
    for name in ("MLP with 2 Linear", "CNN"):
        got, want = observed(probe, name), expected(reference, name)
        before, after = want["original"], got["input_after"]
        expect(
            _types(after) == _types(before),
            expected=f"the {name} passed in to keep its layers {_types(before)}",
            got=f"its layers became {_types(after)}",
            hint="do not insert into (or append to) the model you were given; copy its layers "
            "into a new list.",
        )
        changed = [
            k
            for k, v in before["state"].items()
            if not torch.equal(after["state"].get(k, torch.empty(0)), v)
        ]
        expect(
            not changed,
            expected="the weights of the model passed in to stay the same",
            got="changed: " + ", ".join(changed),
            hint="do not re-initialise or modify the original layers.",
        )
        expect(
            not got["shared_params"],
            expected="the new model to own copies of the parameters",
            got="parameters shared with the input model: " + ", ".join(got["shared_params"][:6]),
            hint="putting the same layer object in both models shares its weights: training one "
            "would change the other. Use copy.deepcopy(layer).",
        )


def _placement_check(probe, reference, names: list[str], what: str) -> None:
    for name in names:
        got, want = observed(probe, name), expected(reference, name)
        expect(
            _structure_ok(got, want),
            expected=f"for the {name} {_types(want['original'])}: layers {_types(want['result'])}",
            got=f"layers {_types(got['result'])}",
            hint=what,
        )


@points(5)
def check_mlp_placement(probe, reference):
    """MLPs of depth 1 to 4: BatchNorm1d after every hidden Linear, none after the output layer"""
    _placement_check(
        probe,
        reference,
        MLPS,
        "insert nn.BatchNorm1d(out_features) right after each Linear that is followed later by "
        "another Linear (before its activation); the last Linear is the output layer and gets "
        "none; a model with a single Linear gets no batch norm at all.",
    )


@points(5)
def check_cnn_placement(probe, reference):
    """CNNs: BatchNorm2d after hidden Conv2d layers, BatchNorm1d after hidden Linear layers"""
    _placement_check(
        probe,
        reference,
        CNNS,
        "a Conv2d output is (N, C, H, W) and needs nn.BatchNorm2d(out_channels); a Linear output "
        "is (N, F) and needs nn.BatchNorm1d(out_features). A Conv2d counts as hidden when any "
        "Linear or Conv2d follows it; the very last weighted layer gets none.",
    )


@points(3)
def check_layers_and_weights_kept(probe, reference):
    """Every original layer is kept, in order, with its weights; the output shape is unchanged"""
    bn = ("BatchNorm1d", "BatchNorm2d")
    for name in MODELS:
        got, want = observed(probe, name), expected(reference, name)
        kept = [
            (i, layer)
            for i, layer in enumerate(got["result"]["layers"])
            if layer.get("type") not in bn
        ]
        original = want["original"]["layers"]
        expect(
            [layer for _, layer in kept] == original,
            expected=f"the layers of the {name}, in order and unchanged, besides the batch norms",
            got=f"{_types({'layers': [layer for _, layer in kept]})}",
            hint="copy every layer of the input (activations, Flatten, Dropout, ...) in order.",
        )
        state = got["result"]["state"]
        for (new_index, _), old_index in zip(kept, range(len(original)), strict=True):
            for key, value in want["original"]["state"].items():
                layer_index, _, param = key.partition(".")
                if int(layer_index) == old_index:
                    copied = state.get(f"{new_index}.{param}")
                    expect(
                        copied is not None and torch.equal(copied, value),
                        expected=f"layer {old_index} of the {name} to keep its {param}",
                        got="different values" if copied is not None else "no such parameter",
                        hint="copy layers (copy.deepcopy) instead of creating new ones.",
                    )
        if "y_train" in got:
            expect(
                tuple(got["y_train"].shape) == tuple(want["y_train"].shape),
                expected=f"output shape {tuple(want['y_train'].shape)}",
                got=f"{tuple(got['y_train'].shape)}",
                hint="batch norm must not change shapes; check the num_features you pass.",
            )


@points(3)
def check_default_batchnorm_settings(probe):
    """Inserted batch norms use PyTorch's defaults (affine, running statistics, eps, momentum)"""
    for name in ("MLP with 4 Linear (tanh)", "CNN"):
        got = observed(probe, name)
        layers = got["result"]["layers"]
        norms = [
            (i, d) for i, d in enumerate(layers) if d.get("type") in ("BatchNorm1d", "BatchNorm2d")
        ]
        expect(
            bool(norms),
            expected=f"batch-norm layers in the result for the {name}",
            got="none",
            hint="see the placement checks.",
        )
        for i, d in norms:
            settings = {k: d.get(k) for k in ("eps", "momentum", "affine", "track_running_stats")}
            expect(
                settings
                == {
                    "eps": 1e-5,
                    "momentum": 0.1,
                    "affine": True,
                    "track_running_stats": True,
                },
                expected="eps=1e-05, momentum=0.1, affine=True, track_running_stats=True",
                got=f"layer {i}: {settings}",
                hint="create nn.BatchNorm1d(n) / nn.BatchNorm2d(n) without extra arguments.",
            )
            state = got["result"]["state"]
            fresh = (
                torch.equal(state[f"{i}.weight"], torch.ones_like(state[f"{i}.weight"]))
                and torch.equal(state[f"{i}.bias"], torch.zeros_like(state[f"{i}.bias"]))
                and torch.equal(
                    state[f"{i}.running_mean"], torch.zeros_like(state[f"{i}.running_mean"])
                )
                and torch.equal(
                    state[f"{i}.running_var"], torch.ones_like(state[f"{i}.running_var"])
                )
            )
            expect(
                fresh,
                expected="fresh batch norms: weight 1, bias 0, running_mean 0, running_var 1",
                got=f"layer {i} starts from other values",
                hint="insert new batch-norm layers; do not reuse or modify them.",
            )


@points(3)
def check_train_mode_uses_batch_statistics(probe, reference):
    """In train mode the new model normalises with batch statistics (matches the reference)"""
    for name in ("MLP with 4 Linear (tanh)", "CNN"):
        got, want = forward_observed(probe, name), expected(reference, name)
        expect(
            tensors_close(got["y_train"], want["y_train"], rtol=1e-4, atol=1e-5),
            expected=f"train-mode outputs of the {name} equal to the reference's",
            got=max_abs_diff(got["y_train"], want["y_train"]),
            hint="with batch norm right after each hidden layer (before its activation), the "
            "outputs are determined; compare your layer order with the docstring's example.",
        )


@points(4)
def check_eval_mode_uses_running_statistics(probe, reference):
    """In eval mode outputs use running statistics, which move only in train mode"""
    for name in ("MLP with 2 Linear", "CNN"):
        got, want = forward_observed(probe, name), expected(reference, name)
        expect(
            tensors_close(got["y_eval"][0], got["y_eval_other"][0], rtol=1e-5, atol=1e-6),
            expected="in eval mode, each sample's output independent of the rest of the batch",
            got="it changed with the batch "
            f"({max_abs_diff(got['y_eval'][0], got['y_eval_other'][0])})",
            hint="eval-mode output changed with the batch: BatchNorm is still using batch "
            "statistics. Use the standard nn.BatchNorm1d/2d layers, which switch with .eval().",
        )
        after_train, after_eval = got["buffers_after_train"], got["buffers_after_eval"]
        same = set(after_train) == set(after_eval) and all(
            torch.equal(after_train[k], after_eval[k]) for k in after_train
        )
        expect(
            same,
            expected="running statistics unchanged by an eval-mode forward pass",
            got="they changed",
            hint="running statistics must only be updated in train mode.",
        )
        ref_after = want["buffers_after_train"]
        got_running = {k: v for k, v in after_train.items() if "running_" in k}
        moved = set(got_running) == set(ref_after) and all(
            tensors_close(got_running[k], ref_after[k], rtol=1e-4, atol=1e-5) for k in ref_after
        )
        expect(
            moved,
            expected="after one train-mode batch, running statistics updated like the reference's",
            got=f"running statistics {sorted(got_running)} with other values",
            hint="keep PyTorch's default momentum (0.1) and track_running_stats=True.",
        )
        expect(
            tensors_close(got["y_eval"], want["y_eval"], rtol=1e-4, atol=1e-5),
            expected=f"eval-mode outputs of the {name} equal to the reference's",
            got=max_abs_diff(got["y_eval"], want["y_eval"]),
            hint="eval mode must use the running statistics of each batch norm.",
        )
