"""Section 1: add_batchnorm.

Models are compared by structure and position (``ModelDesc.layers``), never by the names of
their children: ``nn.Sequential(*layers)``, an ``OrderedDict``, ``add_module``, ``insert`` and
``append`` all describe the same model. One diagnosis of the structure (``structure``) serves
every check, so a placement mistake is named once, by the placement checks, and the checks that
cannot be judged without a correct structure refer to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autograder.grading.feedback import Cause, CheckFailed, expect, max_abs_diff, tensors_close
from autograder.grading.markers import points, tag
from autograder.sandbox import modelspec
from autograder.sandbox.modelspec import BATCH_NORMS, WEIGHTED, layer, same_layer
from autograder.sandbox.replies import AddBatchnormReply, LayerDesc, ModelDesc

pytestmark = tag("add_batchnorm")

CONV_CNN = [
    layer("Conv2d", in_channels=3, out_channels=6, kernel_size=3, padding=1),
    layer("ReLU"),
    layer("MaxPool2d", kernel_size=2),
    layer("Conv2d", in_channels=6, out_channels=8, kernel_size=3, padding=1),
    layer("ReLU"),
    layer("Flatten"),
    layer("Linear", in_features=8 * 4 * 4, out_features=16),
    layer("ReLU"),
    layer("Linear", in_features=16, out_features=5),
]
ALL_CONV = [  # the output layer is a Conv2d: no batch norm after it
    layer("Conv2d", in_channels=3, out_channels=4, kernel_size=3),
    layer("Tanh"),
    layer("Conv2d", in_channels=4, out_channels=2, kernel_size=1),
    layer("Flatten"),
]
MLP_EXTRAS = [  # other layers must be kept, in order
    layer("Flatten"),
    layer("Linear", in_features=12, out_features=16),
    layer("ReLU"),
    layer("Dropout", p=0.0),
    layer("Linear", in_features=16, out_features=8, bias=False),
    layer("Identity"),
    layer("Tanh"),
    layer("Linear", in_features=8, out_features=5),
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

NO_BATCHNORM = Cause("add_batchnorm:none", "add_batchnorm inserted no batch norm")
INPUT_CHANGED = Cause("add_batchnorm:input", "add_batchnorm changed the model it was given")
WEIGHTS_CHANGED = Cause("add_batchnorm:weights", "the copied layers did not keep their weights")
SETTINGS = Cause("add_batchnorm:settings", "batch norms created with non-default settings")


def _inputs(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    x = 2.0 * torch.randn(16, *shape, generator=g) + 0.5
    x_other = x.clone()
    x_other[1:] = 3.0 * torch.randn(15, *shape, generator=g) - 1.0  # same first sample only
    return x, x_other


def observed(probe, name: str) -> AddBatchnormReply:
    layers, shape = MODELS[name]
    x, x_other = _inputs(shape)
    return probe("add_batchnorm", key=name, layers=layers, seed=SEED, x=x, x_other=x_other)


@dataclass
class Expected:
    """The reference's answer, computed here (trusted process) on the same seeded model."""

    original: ModelDesc
    result: ModelDesc
    y_train: torch.Tensor
    buffers_after_train: list[dict[str, torch.Tensor]]
    y_eval: torch.Tensor


def expected(reference, name: str) -> Expected:
    layers, shape = MODELS[name]
    x, _ = _inputs(shape)
    torch.manual_seed(SEED)
    original = modelspec.build_model(layers)
    model = reference.add_batchnorm(original)
    model.train()
    y_train = model(x).detach()
    buffers = modelspec.layer_buffers(model)
    model.eval()
    with torch.no_grad():
        y_eval = model(x)
    return Expected(
        original=modelspec.describe_model(original),
        result=modelspec.describe_model(model),
        y_train=y_train,
        buffers_after_train=buffers,
        y_eval=y_eval,
    )


# --------------------------------------------------------------------------------------------
# The diagnosis of a returned structure
# --------------------------------------------------------------------------------------------


def _is_bn(desc: LayerDesc) -> bool:
    return desc.type in BATCH_NORMS


def _bn_text(desc: LayerDesc) -> str:
    return f"{desc.type}({desc.args.get('num_features')})"


@dataclass
class Structure:
    """How the returned layers relate to the original ones and to the reference's."""

    ok: bool  # exactly the reference's layer types and batch-norm sizes
    cause: Cause | None  # the placement mistake, when not ok
    hint: str
    kept: list[int] | None  # result position of each original layer (None: not all kept)
    inserted: int  # batch norms in the result


def structure(got: AddBatchnormReply, want: Expected) -> Structure:
    result, original = got.result, want.original.layers
    inserted = sum(_is_bn(d) for d in result.layers)
    if not result.is_sequential:
        cause = Cause("add_batchnorm:type", f"add_batchnorm returned a {result.cls}")
        return Structure(False, cause, "return nn.Sequential(*new_layers).", None, inserted)
    kept: list[int] = []
    others = [(i, d) for i, d in enumerate(result.layers) if not _is_bn(d)]
    if len(others) == len(original) and all(
        same_layer(d, o) for (_, d), o in zip(others, original, strict=True)
    ):
        kept = [i for i, _ in others]
    if _same_structure(result, want.result):
        return Structure(True, None, "", kept, inserted)
    custom = [d.cls for d in result.layers if d.type == "unknown"]
    if custom:
        cause = Cause("add_batchnorm:custom", f"a layer of class {custom[0]} in the result")
        hint = (
            "insert torch's own nn.BatchNorm1d / nn.BatchNorm2d layers (your ManualBatchNorm1d "
            "is only for the bonus), and keep the other layers as they are."
        )
        return Structure(False, cause, hint, None, inserted)
    if inserted == 0:
        hint = (
            "insert nn.BatchNorm1d(out_features) after every hidden Linear and "
            "nn.BatchNorm2d(out_channels) after every hidden Conv2d; copying the model is not "
            "enough."
        )
        return Structure(False, NO_BATCHNORM, hint, kept or None, 0)
    if not kept:
        cause = Cause("add_batchnorm:layers", "the original layers were not all kept, in order")
        hint = (
            "copy every layer of the input (activations, Flatten, Dropout, pooling, ...), in "
            "order, with its settings; only insert batch norms between them."
        )
        return Structure(False, cause, hint, None, inserted)
    cause, hint = _placement_mistake(result.layers, kept, want)
    return Structure(False, cause, hint, kept, inserted)


def _same_structure(got: ModelDesc, want: ModelDesc) -> bool:
    if len(got.layers) != len(want.layers):
        return False
    for g, w in zip(got.layers, want.layers, strict=True):
        if g.type != w.type:
            return False
        if _is_bn(w) and g.args.get("num_features") != w.args.get("num_features"):
            return False
    return True


def _placement_mistake(result: list[LayerDesc], kept: list[int], want: Expected) -> tuple:
    """The first difference between the student's and the reference's batch norms, as a cause
    and a hint. ``kept[j]`` is the position of original layer j in the student's result."""
    original = want.original.layers
    ends = [*kept[1:], len(result)]
    got_after = [result[kept[j] + 1 : ends[j]] for j in range(len(original))]
    want_result = want.result.layers
    want_positions = [i for i, d in enumerate(want_result) if not _is_bn(d)]
    want_ends = [*want_positions[1:], len(want_result)]
    want_after = [want_result[want_positions[j] + 1 : want_ends[j]] for j in range(len(original))]
    weighted = [j for j, d in enumerate(original) if d.type in WEIGHTED]
    for j, (got_bns, want_bns) in enumerate(zip(got_after, want_after, strict=True)):
        if [d.type for d in got_bns] == [d.type for d in want_bns]:
            mismatch = [
                (g, w)
                for g, w in zip(got_bns, want_bns, strict=True)
                if g.args.get("num_features") != w.args.get("num_features")
            ]
            if mismatch:
                g, w = mismatch[0]
                return (
                    Cause("add_batchnorm:size", "a batch norm of the wrong size"),
                    f"after {original[j].type} layer {j} you inserted {_bn_text(g)}, but that "
                    f"layer outputs {w.args.get('num_features')} features/channels: a batch "
                    "norm's num_features is the out_features (Linear) or out_channels (Conv2d) "
                    "of the layer before it.",
                )
            continue
        layer_type = original[j].type
        if want_bns and got_bns:
            return (
                Cause("add_batchnorm:kind", "the wrong kind of batch norm"),
                f"after a {layer_type} you inserted {_bn_text(got_bns[0])}: a Conv2d output "
                "(N, C, H, W) needs nn.BatchNorm2d(out_channels), a Linear output (N, F) "
                "needs nn.BatchNorm1d(out_features).",
            )
        if want_bns and not got_bns:
            if j + 1 < len(original) and got_after[j + 1] and original[j + 1].type not in WEIGHTED:
                return (
                    Cause("add_batchnorm:after-activation", "batch norms placed after activations"),
                    f"the batch norm of hidden {layer_type} layer {j} comes after the "
                    f"{original[j + 1].type}: insert it right after the {layer_type}, before its "
                    "activation.",
                )
            return (
                Cause("add_batchnorm:missing", "a hidden layer without its batch norm"),
                f"hidden {layer_type} layer {j} (followed later by another Linear/Conv2d) has "
                "no batch norm right after it: every hidden Linear/Conv2d gets one.",
            )
        if weighted and j == weighted[-1]:
            return (
                Cause("add_batchnorm:output", "a batch norm after the output layer"),
                f"{layer_type} layer {j} is the output layer (no Linear/Conv2d follows it) and "
                "gets no batch norm: its logits must be free to take any scale.",
            )
        if j > 0 and want_after[j - 1]:
            continue  # reported at j - 1 (a batch norm after the activation)
        return (
            Cause("add_batchnorm:extra", "batch norms where none belong"),
            f"you inserted {_bn_text(got_bns[0])} after a {layer_type}: batch norms go only "
            "right after hidden Linear/Conv2d layers.",
        )
    return (
        Cause("add_batchnorm:layers", "the layers differ from the expected ones"),
        "compare your layer order with the docstring's example.",
    )


def _diagnosed(probe, reference, name: str) -> tuple[AddBatchnormReply, Expected, Structure]:
    got, want = observed(probe, name), expected(reference, name)
    return got, want, structure(got, want)


def _require_batchnorms(probe, reference, names: tuple[str, ...], what: str) -> None:
    """No credit for keeping things as they were unless batch norms were inserted."""
    for name in names:
        got, _, diag = _diagnosed(probe, reference, name)
        if diag.cause is NO_BATCHNORM or (diag.inserted == 0 and not diag.ok):
            raise CheckFailed(
                expected=f"{what} for the {name}, once batch norms are inserted",
                got=f"no batch norm in the result ({', '.join(got.result.types())})",
                hint=diag.hint or NO_BATCHNORM.summary,
                cause=NO_BATCHNORM,
            )


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


@points(2)
def check_returns_new_sequential(probe, reference):
    """add_batchnorm returns a new nn.Sequential (not the model it was given)"""
    for name in ("MLP with 2 Linear", "CNN"):
        got = observed(probe, name)
        expect(
            got.result.is_sequential and not got.same_object,
            expected=f"a new torch.nn.Sequential for the {name}",
            got="the same object that was passed in"
            if got.same_object
            else f"an object of class {got.result.cls}",
            hint="build a Python list of layers and return nn.Sequential(*layers).",
            cause=INPUT_CHANGED if got.same_object else None,
        )
    _require_batchnorms(probe, reference, ("MLP with 2 Linear", "CNN"), "a new nn.Sequential")


@points(3)
def check_input_model_untouched(probe, reference):
    """The input model is left untouched and shares no parameters with the result"""
    for name in ("MLP with 2 Linear", "CNN"):
        got, want = observed(probe, name), expected(reference, name)
        before, after = want.original, got.input_after
        expect(
            after.types() == before.types(),
            expected=f"the {name} passed in to keep its layers {before.types()}",
            got=f"its layers became {after.types()}",
            hint="do not insert into (or append to) the model you were given; copy its layers "
            "into a new list.",
            cause=INPUT_CHANGED,
        )
        changed = [
            f"layer {i} {key}"
            for i, (b, a) in enumerate(zip(before.layers, after.layers, strict=True))
            for key, value in b.params.items()
            if key not in a.params or not torch.equal(a.params[key], value)
        ]
        expect(
            not changed,
            expected="the weights of the model passed in to stay the same",
            got="changed: " + ", ".join(changed[:6]),
            hint="do not re-initialise or modify the original layers.",
            cause=INPUT_CHANGED,
        )
        expect(
            not got.shared_params,
            expected="the new model to own copies of the parameters",
            got="parameters shared with the input model: " + ", ".join(got.shared_params[:6]),
            hint="putting the same layer object in both models shares its weights: training one "
            "would change the other. Use copy.deepcopy(layer).",
        )
    _require_batchnorms(probe, reference, ("MLP with 2 Linear", "CNN"), "the input left untouched")


def _placement_check(probe, reference, names: list[str]) -> None:
    for name in names:
        got, want, diag = _diagnosed(probe, reference, name)
        expect(
            diag.ok,
            expected=f"for the {name} {want.original.types()}: layers {want.result.types()}",
            got=f"layers {got.result.types()}",
            hint=diag.hint,
            cause=diag.cause,
        )


@points(5)
def check_mlp_placement(probe, reference):
    """MLPs of depth 1 to 4: BatchNorm1d after every hidden Linear, none after the output layer"""
    _placement_check(probe, reference, MLPS)


@points(5)
def check_cnn_placement(probe, reference):
    """CNNs: BatchNorm2d after hidden Conv2d layers, BatchNorm1d after hidden Linear layers"""
    _placement_check(probe, reference, CNNS)


def _weights_kept(got: AddBatchnormReply, want: Expected, kept: list[int]) -> list[str]:
    """Original layers whose tensors the result does not carry over exactly."""
    lost = []
    for j, position in enumerate(kept):
        new, old = got.result.layers[position], want.original.layers[j]
        for key, value in old.params.items():
            copied = new.params.get(key)
            if copied is None or not torch.equal(copied, value):
                lost.append(f"layer {j} ({old.type}) {key}")
    return lost


@points(3)
def check_layers_and_weights_kept(probe, reference):
    """Every original layer is kept, in order, with its weights; the output shape is unchanged"""
    _require_batchnorms(probe, reference, tuple(MODELS), "the original layers kept")
    for name in MODELS:
        got, want, diag = _diagnosed(probe, reference, name)
        expect(
            diag.kept is not None,
            expected=f"the layers of the {name}, in order and unchanged, besides the batch norms",
            got=", ".join(d.type for d in got.result.layers if not _is_bn(d)),
            hint="copy every layer of the input (activations, Flatten, Dropout, ...) in order.",
            cause=diag.cause if diag.cause and diag.cause.key == "add_batchnorm:layers" else None,
        )
        lost = _weights_kept(got, want, diag.kept or [])
        expect(
            not lost,
            expected=f"the copied layers of the {name} to keep their weights",
            got="different values in " + ", ".join(lost[:6]),
            hint="copy layers (copy.deepcopy) instead of creating new ones.",
            cause=WEIGHTS_CHANGED,
        )
        if got.y_train is not None:
            expect(
                tuple(got.y_train.shape) == tuple(want.y_train.shape),
                expected=f"output shape {tuple(want.y_train.shape)}",
                got=f"{tuple(got.y_train.shape)}",
                hint="batch norm must not change shapes; check the num_features you pass.",
            )


DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}


@points(3)
def check_default_batchnorm_settings(probe, reference):
    """Inserted batch norms use PyTorch's defaults (affine, running statistics, eps, momentum)"""
    _require_batchnorms(probe, reference, ("MLP with 4 Linear (tanh)", "CNN"), "default settings")
    for name in ("MLP with 4 Linear (tanh)", "CNN"):
        got = observed(probe, name)
        for i, d in enumerate(got.result.layers):
            if not _is_bn(d):
                continue
            settings = {k: d.args.get(k) for k in DEFAULTS}
            expect(
                settings == DEFAULTS,
                expected="eps=1e-05, momentum=0.1, affine=True, track_running_stats=True",
                got=f"layer {i} ({d.type}): {settings}",
                hint="create nn.BatchNorm1d(n) / nn.BatchNorm2d(n) without extra arguments.",
                cause=SETTINGS,
            )
            n = d.args.get("num_features")
            fresh = {
                "weight": torch.ones(n) if isinstance(n, int) else None,
                "bias": torch.zeros(n) if isinstance(n, int) else None,
                "running_mean": torch.zeros(n) if isinstance(n, int) else None,
                "running_var": torch.ones(n) if isinstance(n, int) else None,
            }
            tensors = {**d.params, **d.buffers}
            expect(
                all(
                    v is not None and k in tensors and torch.equal(tensors[k].double(), v.double())
                    for k, v in fresh.items()
                ),
                expected="fresh batch norms: weight 1, bias 0, running_mean 0, running_var 1",
                got=f"layer {i} starts from other values",
                hint="insert new batch-norm layers; do not reuse or modify them.",
                cause=SETTINGS,
            )


def _behaviour_judgeable(got: AddBatchnormReply, want: Expected, diag: Structure, name: str):
    """The outputs can be compared with the reference's only when the structure and the copied
    weights are right; otherwise the failure is theirs (refer to the check that names it)."""
    if not diag.ok:
        raise CheckFailed(
            expected=f"the {name}'s outputs to match the reference's, once its layers are right",
            got=f"layers {got.result.types()}",
            hint=diag.hint,
            cause=diag.cause,
        )
    lost = _weights_kept(got, want, diag.kept or [])
    if lost:
        raise CheckFailed(
            expected=f"the {name}'s outputs to match the reference's",
            got="different weights in " + ", ".join(lost[:6]),
            hint="copy layers (copy.deepcopy) instead of creating new ones.",
            cause=WEIGHTS_CHANGED,
        )
    expect(
        got.forward_error is None and got.y_train is not None and got.y_eval is not None,
        expected=f"forward passes through the new {name}",
        got=got.forward_error or "no output",
        hint="check the num_features of each batch norm (BatchNorm2d after Conv2d).",
    )


@points(3)
def check_train_mode_uses_batch_statistics(probe, reference):
    """In train mode the new model normalises with batch statistics (matches the reference)"""
    for name in ("MLP with 4 Linear (tanh)", "CNN"):
        got, want, diag = _diagnosed(probe, reference, name)
        _behaviour_judgeable(got, want, diag, name)
        expect(
            tensors_close(got.y_train, want.y_train, rtol=1e-4, atol=1e-5),
            expected=f"train-mode outputs of the {name} equal to the reference's",
            got=max_abs_diff(got.y_train, want.y_train),
            hint="with the right layers, weights and default batch norms, the outputs are "
            "determined: check the batch norms' settings (affine, eps).",
            cause=SETTINGS,
        )


def _buffers_equal(a: list[dict], b: list[dict], *, exact: bool) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        keys = {k for k in y if k.startswith("running_")}
        if {k for k in x if k.startswith("running_")} != keys:
            return False
        for k in keys:
            same = (
                torch.equal(x[k], y[k])
                if exact
                else tensors_close(x[k], y[k], rtol=1e-4, atol=1e-5)
            )
            if not same:
                return False
    return True


@points(4)
def check_eval_mode_uses_running_statistics(probe, reference):
    """In eval mode outputs use running statistics, which move only in train mode"""
    for name in ("MLP with 2 Linear", "CNN"):
        got, want, diag = _diagnosed(probe, reference, name)
        _behaviour_judgeable(got, want, diag, name)
        expect(
            tensors_close(got.y_eval[0], got.y_eval_other[0], rtol=1e-5, atol=1e-6),
            expected="in eval mode, each sample's output independent of the rest of the batch",
            got=f"it changed with the batch ({max_abs_diff(got.y_eval[0], got.y_eval_other[0])})",
            hint="eval-mode output changed with the batch: BatchNorm is still using batch "
            "statistics. Use the standard nn.BatchNorm1d/2d layers, which switch with .eval(); "
            "track_running_stats must stay True.",
            cause=SETTINGS,
        )
        expect(
            _buffers_equal(got.buffers_after_train or [], got.buffers_after_eval or [], exact=True),
            expected="running statistics unchanged by an eval-mode forward pass",
            got="they changed",
            hint="running statistics must only be updated in train mode.",
        )
        expect(
            _buffers_equal(got.buffers_after_train or [], want.buffers_after_train, exact=False),
            expected="after one train-mode batch, running statistics updated like the reference's",
            got="running statistics with other values",
            hint="keep PyTorch's default momentum (0.1) and track_running_stats=True.",
            cause=SETTINGS,
        )
        expect(
            tensors_close(got.y_eval, want.y_eval, rtol=1e-4, atol=1e-5),
            expected=f"eval-mode outputs of the {name} equal to the reference's",
            got=max_abs_diff(got.y_eval, want.y_eval),
            hint="eval mode must use the running statistics of each batch norm.",
            cause=SETTINGS,
        )
