"""The typed replies of the probes: what crosses from the student process to the grader.

Both sides import this module. In the student process a probe returns one of the dataclasses
below and ``to_wire`` turns it into plain containers (dicts, lists, numbers, strings, tensors)
for the protocol. In the grader, ``from_wire`` rebuilds the dataclass from the decoded message
and validates every value on the way, because the student process is hostile input: a value of
the wrong type, a tensor of an unexpected kind or size, an over-long string or list, a nesting
too deep, or more data in total than any honest reply holds, and the whole reply is refused
with ``InvalidReply``. Strings are capped (not refused) so that feedback stays readable.

The checks read attributes (``reply.result.layers[2].type``), never string keys.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

import torch

# --------------------------------------------------------------------------------------------
# Limits of what a reply may hold (an honest reply is far below each of them)
# --------------------------------------------------------------------------------------------

MAX_STRING = 2000  # characters kept of any string (longer ones are cut, with a mark)
MAX_ITEMS = 100_000  # items of any one list or dict
MAX_DEPTH = 24  # nesting of containers
MAX_NODES = 2_000_000  # values visited in one reply (shared references count every time)
MAX_TENSOR_ELEMENTS = 4_000_000  # elements of one tensor
MAX_TOTAL_ELEMENTS = 12_000_000  # elements of all tensors of one reply
MAX_INT = 2**62
ALLOWED_DTYPES = frozenset(
    {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32}
    | {torch.int16, torch.int8, torch.uint8, torch.bool}
)
TRUNCATED = " [... cut]"


class InvalidReply(ValueError):
    """A reply that is not what the probe's honest code sends; the message says where."""


def cap_text(text: str, limit: int = MAX_STRING) -> str:
    """``text`` without lone surrogates or NUL bytes, cut to ``limit`` characters."""
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


# --------------------------------------------------------------------------------------------
# Model descriptions (see modelspec)
# --------------------------------------------------------------------------------------------

# A constructor argument of a layer as read from the module: kernel_size=(3, 3) is a list.
Arg = Union[bool, int, float, str, list[int], None]  # noqa: UP007 (evaluated at runtime)


@dataclass
class LayerDesc:
    """One leaf layer of a model, by position: its type, constructor arguments and tensors."""

    type: str  # a modelspec.LAYER_ARGS name, or "unknown"
    cls: str  # the qualified class name, for feedback
    args: dict[str, Arg] = field(default_factory=dict)
    params: dict[str, torch.Tensor] = field(default_factory=dict)  # its own, by local name
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    detail: str = ""  # repr() of an unknown layer


@dataclass
class ModelDesc:
    """A model as plain data: its class, and its leaf layers in order (nested Sequentials
    flattened), each with its own parameters and buffers. Names of children do not matter."""

    cls: str
    is_module: bool = False
    is_sequential: bool = False
    training: bool = False
    layers: list[LayerDesc] = field(default_factory=list)

    def types(self) -> list[str]:
        """Layer type names in order (the class name for unknown layers)."""
        return [layer.type if layer.type != "unknown" else layer.cls for layer in self.layers]


# --------------------------------------------------------------------------------------------
# add_batchnorm, compute_grad_norm, clip_gradients
# --------------------------------------------------------------------------------------------


@dataclass
class AddBatchnormReply:
    input_after: ModelDesc  # the model passed in, after the call
    result: ModelDesc  # what add_batchnorm returned
    same_object: bool
    shared_params: list[str] = field(default_factory=list)  # "layer 2 (Linear) weight", ...
    y_train: torch.Tensor | None = None  # train-mode output (batch statistics)
    buffers_after_train: list[dict[str, torch.Tensor]] | None = None  # per layer position
    y_eval: torch.Tensor | None = None  # eval-mode output (running statistics)
    y_eval_other: torch.Tensor | None = None  # same first sample, other rest of the batch
    buffers_after_eval: list[dict[str, torch.Tensor]] | None = None
    forward_error: str | None = None


@dataclass
class GradNormReply:
    value: float | None  # the returned value as a float (None: not convertible)
    type: str  # the returned value's qualified type name
    grads_after: list[torch.Tensor | None]


@dataclass
class ClipReply:
    value: float | None
    type: str
    grads_after: list[torch.Tensor | None]
    params_changed: bool
    called_compute_grad_norm: bool  # whether clip_gradients called (our stand-in for) it


# --------------------------------------------------------------------------------------------
# compare_runs
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """One run's history as returned by compare_runs, converted to plain data."""

    keys: list[str]
    model: ModelDesc
    model_is_trained: bool  # the returned model is the object that run trained
    lists: dict[str, list[float | None]] = field(default_factory=dict)  # train_loss, ...
    list_types: dict[str, str] = field(default_factory=dict)  # the container type of each


@dataclass
class Histories:
    type: str  # the type of what compare_runs returned
    runs: dict[str, History | None] = field(default_factory=dict)  # "baseline", "regularized"


@dataclass
class Pass:
    """One iteration over a loader: which loader, which run trained or evaluated during it,
    and the order of the samples it yielded."""

    loader: str  # "train" or "val"
    run: int  # -1 when no model ran forward during the pass
    order: list[int] = field(default_factory=list)


@dataclass
class Forward:
    """One outermost forward pass of a model on a batch of a loader."""

    run: int
    phase: str  # "train", "val" or "" (a batch from no loader)
    training: bool  # model.training
    grad_enabled: bool
    n: int  # batch size
    pass_index: int  # index into passes (-1: none)
    is_bn_model: bool  # the model add_batchnorm returned
    loss: float | None = None  # sum of per-sample cross-entropy of the outputs (float64)
    correct: int | None = None


@dataclass
class HelperCall:
    """A call of compute_grad_norm or clip_gradients made by compare_runs (the grader's
    correct stand-ins for the student's own, while the protocol is graded)."""

    fn: str
    value: float | None
    before_norm: float | None  # 2-norm of the gradient when it was called
    max_norm: float | None = None  # clip_gradients only


@dataclass
class Step:
    """What the recorder saw at one optimizer.step()."""

    run: int
    optimizer: str
    lr: float | None
    momentum: float | None
    has_model_params: bool | None = None
    backward_norm: float | None = None  # 2-norm of the gradient right after backward()
    step_norm: float | None = None  # 2-norm of the gradient step() uses
    fresh_norm: float | None = None  # 2-norm of this batch's own mean-loss gradient
    fresh_vs_backward: float | None = None  # |g_backward - g_fresh| / |g_fresh|
    step_vs_backward: float | None = None  # |g_step - g_backward| / |g_backward|
    step_cosine: float | None = None  # cosine between g_step and g_backward
    accumulated: bool | None = None  # g_backward == g_fresh + g_backward of the previous step
    batch_size: int | None = None
    helper_calls: list[HelperCall] = field(default_factory=list)


@dataclass
class BnCall:
    run: int  # runs trained so far when add_batchnorm was called
    arg_is_latest_model: bool  # it was given the latest model make_model built


@dataclass
class ProtocolReply:
    histories: Histories
    created: list[list[dict[str, torch.Tensor]]]  # per make_model() call: tensors per layer
    passes: list[Pass]
    forwards: list[Forward]
    steps: list[Step]
    bn_calls: list[BnCall]
    runs_trained: int  # distinct models that took an optimizer step


@dataclass
class TrainReply:
    histories: Histories
    steps_per_run: list[int]  # optimizer steps per distinct trained model


# --------------------------------------------------------------------------------------------
# ManualBatchNorm1d (bonus)
# --------------------------------------------------------------------------------------------


@dataclass
class BatchnormStep:
    y: torch.Tensor | None
    grad_x: torch.Tensor | None
    grad_weight: torch.Tensor | None
    grad_bias: torch.Tensor | None
    running_mean: torch.Tensor | None
    running_var: torch.Tensor | None
    buffers_have_history: bool  # a running buffer requires grad or has a grad_fn


@dataclass
class ManualBatchnormReply:
    is_module: bool
    builtin_submodules: list[str]
    builtin_ops: list[str]  # batch-norm operators of PyTorch that ran during the probe
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    steps: list[BatchnormStep] = field(default_factory=list)
    eval_y: torch.Tensor | None = None
    running_mean_after_eval: torch.Tensor | None = None
    running_var_after_eval: torch.Tensor | None = None


REPLY_TYPES: dict[str, type] = {
    "add_batchnorm": AddBatchnormReply,
    "compute_grad_norm": GradNormReply,
    "clip_gradients": ClipReply,
    "compare_runs_protocol": ProtocolReply,
    "compare_runs_train": TrainReply,
    "manual_batchnorm": ManualBatchnormReply,
}


# --------------------------------------------------------------------------------------------
# The wire
# --------------------------------------------------------------------------------------------


def to_wire(value: Any) -> Any:
    """A reply dataclass as plain containers (the student side's half of the protocol)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach()
    return value


def from_wire(cls: type, data: Any) -> Any:
    """Rebuild and validate a reply of type ``cls`` from decoded plain data.

    Raises ``InvalidReply`` naming the first offending field. Tensors come back detached,
    contiguous and on the CPU; strings capped with ``cap_text``.
    """
    budget = _Budget()
    return _convert(data, cls, "reply", 0, budget)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.elements = 0

    def visit(self, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InvalidReply(f"{where}: more than {MAX_NODES} values in one reply")


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS_CACHE:
        _HINTS_CACHE[cls] = typing.get_type_hints(cls)
    return _HINTS_CACHE[cls]


def _convert(value: Any, tp: Any, where: str, depth: int, budget: _Budget) -> Any:
    budget.visit(where)
    if depth > MAX_DEPTH:
        raise InvalidReply(f"{where}: nested more than {MAX_DEPTH} levels deep")
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        alternatives = typing.get_args(tp)
        if value is None and type(None) in alternatives:
            return None
        errors = []
        for alternative in alternatives:
            if alternative is type(None):
                continue
            try:
                return _convert(value, alternative, where, depth, budget)
            except InvalidReply as exc:
                errors.append(str(exc))
        raise InvalidReply(errors[0] if len(errors) == 1 else f"{where}: {_kind(value)} fits none")
    if dataclasses.is_dataclass(tp):
        if type(value) is not dict:
            raise InvalidReply(f"{where}: {_kind(value)} where {tp.__name__} was expected")
        hints = _hints(tp)
        unknown = set(value) - set(hints)
        if unknown:
            raise InvalidReply(f"{where}: unexpected field {cap_text(str(min(unknown)), 60)!r}")
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in value:
                kwargs[f.name] = _convert(
                    value[f.name], hints[f.name], f"{where}.{f.name}", depth + 1, budget
                )
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InvalidReply(f"{where}: missing field {f.name!r}")
        return tp(**kwargs)
    if origin is list:
        if type(value) is not list:
            raise InvalidReply(f"{where}: {_kind(value)} where a list was expected")
        if len(value) > MAX_ITEMS:
            raise InvalidReply(f"{where}: a list of {len(value)} items (limit {MAX_ITEMS})")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
    if origin is dict:
        if type(value) is not dict:
            raise InvalidReply(f"{where}: {_kind(value)} where a dict was expected")
        if len(value) > MAX_ITEMS:
            raise InvalidReply(f"{where}: a dict of {len(value)} items (limit {MAX_ITEMS})")
        _, item = typing.get_args(tp)
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise InvalidReply(f"{where}: a key of type {_kind(k)}")
            key = cap_text(k, 200)
            out[key] = _convert(v, item, f"{where}[{key!r}]", depth + 1, budget)
        return out
    if tp is torch.Tensor:
        return _tensor(value, where, budget)
    if tp is bool:
        if type(value) is not bool:
            raise InvalidReply(f"{where}: {_kind(value)} where a bool was expected")
        return value
    if tp is int:
        if type(value) is not int or abs(value) > MAX_INT:
            raise InvalidReply(f"{where}: {_kind(value)} where an int was expected")
        return value
    if tp is float:
        if type(value) is int and abs(value) <= MAX_INT:
            return float(value)
        if type(value) is not float:
            raise InvalidReply(f"{where}: {_kind(value)} where a float was expected")
        return value
    if tp is str:
        if type(value) is not str:
            raise InvalidReply(f"{where}: {_kind(value)} where a string was expected")
        return cap_text(value)
    raise TypeError(f"replies: unsupported annotation {tp!r} at {where}")  # a bug of ours


def _tensor(value: Any, where: str, budget: _Budget) -> torch.Tensor:
    if type(value) not in (torch.Tensor, torch.nn.Parameter):
        raise InvalidReply(f"{where}: {_kind(value)} where a tensor was expected")
    if value.layout is not torch.strided or value.is_quantized or value.device.type != "cpu":
        raise InvalidReply(f"{where}: a {value.layout}/{value.device.type} tensor")
    if value.dtype not in ALLOWED_DTYPES:
        raise InvalidReply(f"{where}: a tensor of dtype {value.dtype}")
    if any(s < 0 for s in value.shape) or value.dim() > 8:
        raise InvalidReply(f"{where}: a tensor of shape {tuple(value.shape)[:10]}")
    numel = math.prod(value.shape)
    if numel > MAX_TENSOR_ELEMENTS:
        raise InvalidReply(f"{where}: a tensor of {numel} elements (limit {MAX_TENSOR_ELEMENTS})")
    budget.elements += numel
    if budget.elements > MAX_TOTAL_ELEMENTS:
        raise InvalidReply(f"{where}: more than {MAX_TOTAL_ELEMENTS} tensor elements in total")
    return value.detach().contiguous()


def _kind(value: Any) -> str:
    return cap_text(type(value).__name__, 60)
