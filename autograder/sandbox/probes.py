"""What the student process can be asked to run.

Each probe calls the submission on inputs chosen by the grader and returns raw observations as
one of the typed replies of ``replies`` (numbers, strings, tensors, model descriptions). No probe
decides anything: verdicts are made by the hidden checks in the grader's own process, against
references computed there.

Faults: once a probe has handed control to the submission (``student``), whatever goes wrong
afterwards in this process may be the submission's doing (a returned object that breaks, a
patched torch function), so it is reported as the student's (``student_code_ran``). Before that
point, an error is a bug of the probe, which the grader reports as its own.
"""

from __future__ import annotations

import contextlib
import copy
import math
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset, default_collate

from . import modelspec, replies, wording
from .replies import (
    AddBatchnormReply,
    BatchnormStep,
    BnCall,
    ClipReply,
    Forward,
    GradNormReply,
    HelperCall,
    Histories,
    History,
    LayerDesc,
    ManualBatchnormReply,
    Pass,
    ProtocolReply,
    Step,
    TrainReply,
)

HISTORY_KEYS = ("train_loss", "val_loss", "val_acc", "grad_norm")

# --------------------------------------------------------------------------------------------
# Whose fault: did this probe already run student code?
# --------------------------------------------------------------------------------------------

_student_ran = False


def begin_probe() -> None:
    """Called by the worker before each probe."""
    global _student_ran
    _student_ran = False


def student_code_ran() -> bool:
    """Whether the current probe has handed control to the submission."""
    return _student_ran


class MissingName(AttributeError):
    """The submission does not define a name the grader needs (a student error)."""


def student(module: Any, name: str) -> Any:
    """``module.<name>``, about to be called: from here on, faults are the student's."""
    global _student_ran
    _student_ran = True
    value = getattr(module, name, None)
    if value is None:
        raise MissingName(wording.missing_name(name))
    return value


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return replies.cap_text(type(value).__module__ + "." + type(value).__qualname__, 200)


def _as_float(value: Any) -> float | None:
    """``value`` as a Python float, or None when it is not a single number."""
    try:
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            return None
        if isinstance(value, str | bytes):
            return None
        return float(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None


def _layers(descs: list[dict]) -> list[LayerDesc]:
    """Layer descriptions sent by the grader (plain data) as ``LayerDesc``s."""
    return replies.from_wire(list[LayerDesc], descs)


class ParamHolder(nn.Module):
    """A module whose only content is parameters (ones: scaling them shows) with given gradients."""

    def __init__(self, grads: list[torch.Tensor | None], shapes: list[list[int]]) -> None:
        super().__init__()
        self.params = nn.ParameterList([nn.Parameter(torch.ones(shape)) for shape in shapes])
        for p, g in zip(self.params, grads, strict=True):
            p.grad = None if g is None else g.clone()

    def grads(self) -> list[torch.Tensor | None]:
        return [None if p.grad is None else p.grad.detach().clone() for p in self.params]


def total_grad_norm(model: nn.Module, norm_type: float = 2.0) -> float:
    """A correct ``compute_grad_norm`` (CONTRACT section 1), computed in float64.

    While ``clip_gradients`` is graded it stands in for the student's own ``compute_grad_norm``,
    so that a mistake there costs points in its own section only.
    """
    grads = [p.grad.detach().double().flatten() for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    flat = torch.cat(grads)
    p = float(norm_type)
    if math.isinf(p):
        return flat.abs().max().item()
    return flat.abs().pow(p).sum().pow(1.0 / p).item()


def correct_clip(model: nn.Module, max_norm: float, norm_type: float = 2.0) -> float:
    """A correct ``clip_gradients`` (CONTRACT section 1), standing in for the student's own
    while compare_runs' protocol is graded."""
    total = total_grad_norm(model, norm_type)
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.detach().mul_(scale)
    return total


def batchnorm_stand_in(with_batchnorm: list[LayerDesc]) -> Callable[[nn.Module], nn.Sequential]:
    """A correct ``add_batchnorm`` for the one model the protocol run builds: the structure the
    grader computed (``with_batchnorm``), with copies of the given model's layers' tensors. It
    draws no random numbers, as copying layers does not."""

    def add_batchnorm(model: nn.Module) -> nn.Sequential:
        with torch.random.fork_rng(devices=[]):
            new = modelspec.build_model(with_batchnorm)
        targets = [m for m in new if type(m).__name__ not in modelspec.BATCH_NORMS]
        sources = list(modelspec.leaf_layers(model))
        if len(sources) != len(targets):
            raise ValueError(
                f"add_batchnorm (the grader's) expects the model make_model() built, with "
                f"{len(targets)} layers; it was given {len(sources)}"
            )
        for source, target in zip(sources, targets, strict=True):
            target.load_state_dict(copy.deepcopy(source.state_dict()))
        return new

    return add_batchnorm


@contextlib.contextmanager
def _replaced(module: Any, name: str, value: Any) -> Iterator[None]:
    """``module.<name>`` set to ``value`` for the duration (restored afterwards)."""
    missing = object()
    original = getattr(module, name, missing)
    setattr(module, name, value)
    try:
        yield
    finally:
        if original is missing:
            delattr(module, name)
        else:
            setattr(module, name, original)


# --------------------------------------------------------------------------------------------
# add_batchnorm
# --------------------------------------------------------------------------------------------


def _param_keys(model: nn.Module) -> set[int]:
    return {id(p) for p in model.parameters()} | {p.data_ptr() for p in model.parameters()}


def probe_add_batchnorm(
    module: Any, *, layers: list[dict], seed: int, x: torch.Tensor, x_other: torch.Tensor
) -> AddBatchnormReply:
    """Call add_batchnorm on a freshly built model; observe structure, aliasing and behaviour.

    ``x`` and ``x_other`` share their first sample and differ elsewhere.
    """
    torch.manual_seed(seed)
    model = modelspec.build_model(_layers(layers))
    input_keys = _param_keys(model)
    result = student(module, "add_batchnorm")(model)
    reply = AddBatchnormReply(
        input_after=modelspec.describe_model(model),
        result=modelspec.describe_model(result),
        same_object=result is model,
    )
    if not isinstance(result, nn.Module):
        return reply
    for index, layer in enumerate(modelspec.leaf_layers(result)):
        for name, p in layer.named_parameters(recurse=False):
            if id(p) in input_keys or p.data_ptr() in input_keys:
                reply.shared_params.append(f"layer {index} ({type(layer).__name__}) {name}")
    try:
        result.train()
        reply.y_train = result(x).detach().clone()  # batch statistics
        reply.buffers_after_train = modelspec.layer_buffers(result)
        result.eval()
        with torch.no_grad():
            reply.y_eval = result(x).clone()  # running statistics
            reply.y_eval_other = result(x_other).clone()
        reply.buffers_after_eval = modelspec.layer_buffers(result)
    except Exception as exc:
        reply.forward_error = replies.cap_text(f"{type(exc).__name__}: {exc}", 500)
    return reply


# --------------------------------------------------------------------------------------------
# compute_grad_norm and clip_gradients
# --------------------------------------------------------------------------------------------


def probe_grad_norm(
    module: Any,
    *,
    grads: list[torch.Tensor | None],
    shapes: list[list[int]],
    norm_type: float | None = None,
) -> GradNormReply:
    holder = ParamHolder(grads, shapes)
    fn = student(module, "compute_grad_norm")
    value = fn(holder) if norm_type is None else fn(holder, norm_type=norm_type)
    return GradNormReply(value=_as_float(value), type=_type_name(value), grads_after=holder.grads())


def probe_clip(
    module: Any,
    *,
    grads: list[torch.Tensor | None],
    shapes: list[list[int]],
    max_norm: float,
    norm_type: float | None = None,
) -> ClipReply:
    """Call clip_gradients with a correct compute_grad_norm in place of the student's own."""
    holder = ParamHolder(grads, shapes)
    params_before = [p.detach().clone() for p in holder.params]
    calls = []

    def stand_in(model: nn.Module, norm_type: float = 2.0) -> float:
        calls.append(norm_type)
        return total_grad_norm(model, norm_type)

    fn = student(module, "clip_gradients")
    with _replaced(module, "compute_grad_norm", stand_in):
        if norm_type is None:
            value = fn(holder, max_norm)
        else:
            value = fn(holder, max_norm, norm_type=norm_type)
    changed = any(
        not torch.equal(a, p.detach()) for a, p in zip(params_before, holder.params, strict=True)
    )
    return ClipReply(
        value=_as_float(value),
        type=_type_name(value),
        grads_after=holder.grads(),
        params_changed=changed,
        called_compute_grad_norm=bool(calls),
    )


# --------------------------------------------------------------------------------------------
# compare_runs
# --------------------------------------------------------------------------------------------


class _Fetched(list):
    """A batch as ``__getitems__`` returns it: already stacked (``stacked``) for the collate
    function that knows it (``_collate``), and for any other (a DataLoader the student builds
    over ``loader.dataset``) the list of samples every collate function expects, made when
    first read (the 4 passes of the accuracy training: 0.28 s of CPU before, 0.12 s after)."""

    def __init__(self, stacked: list[torch.Tensor]) -> None:
        super().__init__()
        self.stacked = stacked  # each (batch, ...)
        self._made = False

    def _samples(self) -> _Fetched:
        if not getattr(self, "_made", True):  # (an unpickled copy holds its samples)
            self._made = True
            list.extend(self, zip(*(t.unbind(0) for t in self.stacked), strict=True))
        return self


def _reads_samples(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def read(self: _Fetched, *args: Any, **kwargs: Any) -> Any:
        return method(self._samples(), *args, **kwargs)

    read.__name__ = name
    return read


# every list method that reads the items (the others change the list: made first, too)
_COMPARE = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__repr__"}
for _name in sorted(set(dir(list)) - set(dir(object)) | _COMPARE):
    if _name not in ("__init__", "__class_getitem__"):
        setattr(_Fetched, _name, _reads_samples(_name))
del _name


class _IndexedTensorDataset(TensorDataset):
    """A ``TensorDataset`` that tells its loader which samples are read, in order.

    A batch is fetched at once (``__getitems__``, which DataLoader uses when a dataset has it):
    one indexing of each tensor instead of a Python call per sample and a stack; a third of
    the accuracy training's time went there.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__(x, y)
        self.read: list[int] | None = None  # where the current pass logs its indices

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if self.read is not None:
            self.read.append(int(index))
        return super().__getitem__(index)

    def __getitems__(self, indices: list[int]) -> _Fetched:
        if self.read is not None:
            self.read.extend(int(i) for i in indices)
        rows = torch.as_tensor(indices, dtype=torch.long)
        return _Fetched([t[rows] for t in self.tensors])


def _collate(samples: list) -> Any:
    """DataLoader's default collation, or the batch ``__getitems__`` has already stacked."""
    if isinstance(samples, _Fetched):
        return list(samples.stacked)
    return default_collate(samples)


class ObservedLoader(DataLoader):
    """A ``torch.utils.data.DataLoader`` over tensors, as every compare_runs probe gets it.

    It is a real DataLoader (``len(loader.dataset)``, ``loader.batch_size``, iterating it
    again all work), reshuffling with torch's global random state at every pass when
    ``shuffle``; a recorder, when attached, sees each pass and the batches it yields.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        name: str,
        recorder: Recorder | None,
    ) -> None:
        dataset = _IndexedTensorDataset(x, y)
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=_collate)
        self._observer = (name, recorder)

    def __iter__(self) -> Iterator:
        name, recorder = self._observer
        batches = super().__iter__()
        if recorder is None:
            return batches
        return recorder.observe_pass(name, self.dataset, batches)


def _flat_grad(model: nn.Module) -> torch.Tensor:
    """Every parameter's gradient (zeros for None) as one float64 vector."""
    parts = [
        torch.zeros(p.numel(), dtype=torch.float64)
        if p.grad is None
        else p.grad.detach().double().flatten()
        for p in model.parameters()
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| (inf when b is zero and a is not)."""
    denominator = b.norm().item()
    difference = (a - b).norm().item()
    if denominator == 0.0:
        return 0.0 if difference == 0.0 else math.inf
    return difference / denominator


# The models a recorder watches (those make_model and add_batchnorm give compare_runs), and
# their recorder; weak keys: a copy the student makes of a model is not watched.
_WATCHED_MODELS: weakref.WeakKeyDictionary[nn.Module, Recorder] = weakref.WeakKeyDictionary()


def _watched_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """The ``forward`` of a watched model (bound to the instance): the recorder sees the call,
    whether the student writes ``model(x)`` or ``model.forward(x)``."""
    recorder = _WATCHED_MODELS.get(self)
    if recorder is None or recorder._suspended:
        return type(self).forward(self, *args, **kwargs)
    return recorder.forward_of(self, args, kwargs)


class Recorder:
    """Observes a compare_runs call from outside: the forward passes of the models it is given
    (an instance-level ``forward``), an optimizer hook at every ``step()``, gradient hooks on
    the trained models' parameters, and the loaders' passes.

    Runs are told apart by the model being trained: the first model that runs forward is run 0
    (the baseline), the next one run 1 (the regularized run). With ``detailed=False`` (the
    accuracy run) it only counts each run's optimizer steps.
    """

    def __init__(self, layers: list[LayerDesc], *, detailed: bool) -> None:
        self.layers, self.detailed = layers, detailed
        self.created: list[list[dict[str, torch.Tensor]]] = []
        self._created_models: list[nn.Module] = []
        self.models: list[nn.Module] = []  # distinct models run forward, in order
        self.passes: list[Pass] = []
        self.forwards: list[Forward] = []
        self.steps: list[Step] = []
        self.steps_per_run: list[int] = []
        self.bn_calls: list[BnCall] = []
        self.bn_result: Any = None
        self.phase = ""
        self.pass_index = -1
        self.current_y: torch.Tensor | None = None
        self._suspended = False
        self._last_train: dict[int, tuple[nn.Module, torch.Tensor, torch.Tensor, bool]] = {}
        self._after_backward: dict[int, torch.Tensor] = {}
        self._hook_counts: dict[int, int] = {}
        self._previous_step: dict[int, torch.Tensor] = {}
        self._helper_calls: list[HelperCall] = []

    # -- what compare_runs is given -------------------------------------------------------

    def make_model(self) -> nn.Sequential:
        model = modelspec.build_model(self.layers)
        self.created.append(modelspec.layer_states(model))
        self._created_models.append(model)
        return self.watch(model)

    def watch(self, model: Any) -> Any:
        """Watch ``model``'s forward passes (an nn.Module; anything else is left as it is)."""
        if isinstance(model, nn.Module) and model not in _WATCHED_MODELS:
            _WATCHED_MODELS[model] = self
            model.forward = types.MethodType(_watched_forward, model)
        return model

    def observe_pass(self, name: str, dataset: Any, batches: Iterator) -> Iterator:
        order: list[int] = []
        self.passes.append(Pass(loader=name, run=-1, order=order))
        index = len(self.passes) - 1
        dataset.read = order  # the loader logs the samples of each batch it fetches
        try:
            for batch in batches:
                dataset.read = None  # not while the student's code has the batch
                self.phase, self.pass_index = name, index
                self.current_y = batch[1] if isinstance(batch, list | tuple) else None
                yield batch
                dataset.read = order
        finally:
            dataset.read = None
            self.phase, self.pass_index, self.current_y = "", -1, None

    # -- runs -------------------------------------------------------------------------------

    def run_of(self, model: nn.Module) -> int:
        for index, known in enumerate(self.models):
            if known is model:
                return index
        self.models.append(model)
        self.steps_per_run.append(0)
        run = len(self.models) - 1
        if self.detailed:
            params = [p for p in model.parameters() if p.requires_grad]
            for p in params:
                p.register_post_accumulate_grad_hook(self._counting_hook(run, model, len(params)))
        return run

    def _counting_hook(self, run: int, model: nn.Module, n_params: int) -> Callable:
        """After every parameter of ``model`` received its gradient: a snapshot of all of them
        (the gradient right after backward(), before anything else touches it)."""

        def hook(_: torch.Tensor) -> None:
            if self._suspended:
                return
            self._hook_counts[run] = self._hook_counts.get(run, 0) + 1
            if self._hook_counts[run] == n_params:
                self._hook_counts[run] = 0
                self._after_backward[run] = _flat_grad(model)

        return hook

    def _run_of_optimizer(self, optimizer: torch.optim.Optimizer) -> int:
        ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for index, model in enumerate(self.models):
            if any(id(p) in ids for p in model.parameters()):
                return index
        return -1

    # -- wrappers of the student's own functions --------------------------------------------

    def wrap_helper(self, name: str, fn: Callable) -> Callable:
        """Record compare_runs' calls of compute_grad_norm / clip_gradients (the grader's stand-ins
        for the student's own): the gradient's norm at the call, the value, the max_norm."""

        def recording(model: Any, *args: Any, **kwargs: Any) -> Any:
            before = _flat_grad(model) if isinstance(model, nn.Module) else None
            value = fn(model, *args, **kwargs)
            call = HelperCall(
                fn=name,
                value=_as_float(value),
                before_norm=None if before is None else before.norm().item(),
            )
            if name == "clip_gradients":
                call.max_norm = _as_float(args[0] if args else kwargs.get("max_norm"))
            self._helper_calls.append(call)
            return value

        return recording

    def wrap_add_batchnorm(self, add_batchnorm: Callable) -> Callable:
        """Record calls of the student's add_batchnorm made by compare_runs."""

        def recording(model: Any) -> Any:
            result = add_batchnorm(model)
            latest = self._created_models[-1] if self._created_models else None
            self.bn_calls.append(BnCall(run=len(self.models), arg_is_latest_model=model is latest))
            self.bn_result = result
            return self.watch(result)

        return recording

    # -- observations -------------------------------------------------------------------------

    def forward_of(self, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        """Run a watched model's forward pass, recording it (and its loss on the batch's labels)."""
        run = self.run_of(module)
        x = args[0] if args else None
        record = None
        if self.detailed and isinstance(x, torch.Tensor):
            record = Forward(
                run=run,
                phase=self.phase,
                training=bool(module.training),
                grad_enabled=torch.is_grad_enabled(),
                n=int(x.shape[0]) if x.dim() else 0,
                pass_index=self.pass_index,
                is_bn_model=module is self.bn_result,
            )
            self.forwards.append(record)
            if self.pass_index >= 0 and self.passes[self.pass_index].run < 0:
                self.passes[self.pass_index].run = run
            if self.phase == "train" and self.current_y is not None:
                self._last_train[run] = (module, x.detach(), self.current_y, bool(module.training))
        y = self.current_y
        output = type(module).forward(module, *args, **kwargs)
        readable = isinstance(output, torch.Tensor) and output.dim() == 2
        if record is not None and y is not None and readable and record.n == len(y) == len(output):
            with torch.no_grad():
                logits = output.detach().double()
                record.loss = F.cross_entropy(logits, y, reduction="sum").item()
                record.correct = int((logits.argmax(1) == y).sum().item())
        return output

    def pre_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        run = self._run_of_optimizer(optimizer)
        if run >= 0:
            self.steps_per_run[run] += 1
        if not self.detailed:
            return
        group = optimizer.param_groups[0] if optimizer.param_groups else {}
        step = Step(
            run=run,
            optimizer=type(optimizer).__name__,
            lr=_as_float(group.get("lr")),
            momentum=_as_float(group.get("momentum")),
        )
        self.steps.append(step)
        calls, self._helper_calls = self._helper_calls, []
        if run < 0:
            return
        model = self.models[run]
        ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        step.has_model_params = all(id(p) in ids for p in model.parameters())
        g_step = _flat_grad(model)  # what step() will use
        step.step_norm = g_step.norm().item()
        step.helper_calls = calls
        g_backward = self._after_backward.pop(run, None)
        if g_backward is not None:
            step.backward_norm = g_backward.norm().item()
            step.step_vs_backward = _relative(g_step, g_backward)
            if step.backward_norm > 0 and step.step_norm > 0:
                step.step_cosine = torch.dot(g_step, g_backward).item() / (
                    step.step_norm * step.backward_norm
                )
        g_fresh = self._fresh_gradient(run)
        if g_fresh is not None:
            step.fresh_norm = g_fresh.norm().item()
            step.batch_size = len(self._last_train[run][2])
            if g_backward is not None:
                step.fresh_vs_backward = _relative(g_backward, g_fresh)
                previous = self._previous_step.get(run)
                if previous is not None and previous.shape == g_fresh.shape:
                    step.accumulated = _relative(g_backward, previous + g_fresh) < 1e-4
        self._previous_step[run] = g_step

    def _fresh_gradient(self, run: int) -> torch.Tensor | None:
        """The gradient of the last training batch's mean cross-entropy alone, computed on a copy
        of the model in the mode it was in for that batch."""
        last = self._last_train.get(run)
        if last is None:
            return None
        model, x, y, training = last
        self._suspended = True
        try:
            twin = copy.deepcopy(model)
            for p in twin.parameters():
                p.grad = None
            twin.train(training)
            with torch.enable_grad():
                F.cross_entropy(twin(x), y).backward()
            return _flat_grad(twin)
        except Exception:
            return None  # e.g. a model that cannot be copied: no observation
        finally:
            self._suspended = False

    @contextlib.contextmanager
    def hooked(self, module: Any, *, helpers: dict[str, Callable]) -> Iterator[None]:
        """The optimizer hook installed, and ``helpers`` (name -> function) in place of the
        submission's functions of those names meanwhile, each wrapped to be recorded."""
        handle = register_optimizer_step_pre_hook(self.pre_step)
        with contextlib.ExitStack() as replaced:
            for name, fn in helpers.items():
                wrapped = (
                    self.wrap_add_batchnorm(fn)
                    if name == "add_batchnorm"
                    else self.wrap_helper(name, fn)
                )
                replaced.enter_context(_replaced(module, name, wrapped))
            try:
                yield
            finally:
                handle.remove()


def _histories(result: Any, rec: Recorder) -> Histories:
    """The histories returned by compare_runs as plain data, with the types seen."""
    out = Histories(type=_type_name(result))
    if not isinstance(result, dict):
        return out
    for index, run in enumerate(("baseline", "regularized")):
        history = result.get(run)
        if not isinstance(history, dict):
            out.runs[run] = None
            continue
        model = history.get("model")
        trained = index < len(rec.models) and model is rec.models[index]
        entry = History(
            keys=sorted(replies.cap_text(str(k), 100) for k in list(history)[:50]),
            model=modelspec.describe_model(model),
            model_is_trained=bool(trained),
        )
        for key in HISTORY_KEYS:
            if key not in history:
                continue
            values = history[key]
            entry.list_types[key] = _type_name(values)
            try:
                items = list(values)[: replies.MAX_ITEMS]
            except TypeError:
                continue
            entry.lists[key] = [_as_float(v) for v in items]
        out.runs[run] = entry
    return out


def probe_compare_runs_protocol(
    module: Any,
    *,
    layers: list[dict],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    batch_size: int,
    val_batch_size: int,
    epochs: int,
    lr: float,
    max_norm: float,
    seed: int,
    with_batchnorm: list[dict],
) -> ProtocolReply:
    """Run compare_runs on small data with every step observed; report what happened.

    The student's add_batchnorm, compute_grad_norm and clip_gradients are replaced by correct
    ones meanwhile (``with_batchnorm``: the regularized model's layers, from the grader), so a
    mistake in those costs points in their own sections only.
    """
    rec = Recorder(_layers(layers), detailed=True)
    stand_ins = {
        "add_batchnorm": batchnorm_stand_in(_layers(with_batchnorm)),
        "compute_grad_norm": total_grad_norm,
        "clip_gradients": correct_clip,
    }
    train = ObservedLoader(
        train_x, train_y, batch_size=batch_size, shuffle=True, name="train", recorder=rec
    )
    val = ObservedLoader(
        val_x, val_y, batch_size=val_batch_size, shuffle=False, name="val", recorder=rec
    )
    fn = student(module, "compare_runs")
    with rec.hooked(module, helpers=stand_ins):
        result = fn(rec.make_model, train, val, epochs=epochs, lr=lr, max_norm=max_norm, seed=seed)
    return ProtocolReply(
        histories=_histories(result, rec),
        created=rec.created,
        passes=rec.passes,
        forwards=rec.forwards,
        steps=rec.steps,
        bn_calls=rec.bn_calls,
        runs_trained=sum(1 for n in rec.steps_per_run if n),
    )


def probe_compare_runs_train(
    module: Any,
    *,
    layers: list[dict],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    batch_size: int,
    val_batch_size: int,
    epochs: int,
    lr: float,
    max_norm: float,
    seed: int,
) -> TrainReply:
    """Run compare_runs on real data (already standardised by the grader); report the result.

    The loaders are the same kind as in the protocol run, and the models are watched the same
    way (here only the optimizer steps of each run are counted), so the two runs look alike
    from inside; the submission's own add_batchnorm, compute_grad_norm and clip_gradients are
    used (this run is the end-to-end one).
    """
    rec = Recorder(_layers(layers), detailed=False)
    train = ObservedLoader(
        train_x, train_y, batch_size=batch_size, shuffle=True, name="train", recorder=rec
    )
    val = ObservedLoader(
        val_x, val_y, batch_size=val_batch_size, shuffle=False, name="val", recorder=rec
    )
    fn = student(module, "compare_runs")
    own = getattr(module, "add_batchnorm", None)  # the student's own: watched, not replaced
    with rec.hooked(module, helpers={"add_batchnorm": own} if callable(own) else {}):
        result = fn(rec.make_model, train, val, epochs=epochs, lr=lr, max_norm=max_norm, seed=seed)
    return TrainReply(histories=_histories(result, rec), steps_per_run=list(rec.steps_per_run))


# --------------------------------------------------------------------------------------------
# ManualBatchNorm1d (bonus)
# --------------------------------------------------------------------------------------------


class _BatchNormOperators(TorchDispatchMode):
    """Records every batch-norm operator of PyTorch that runs, however it was reached
    (``nn.BatchNorm1d``, ``F.batch_norm``, ``torch.batch_norm``, ``torch.native_batch_norm``...)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch would otherwise wrap __torch_dispatch__ to keep torch.compile out of it, which
        # imports torch._dynamo (1.5 s) at the first operator; nothing here is compiled
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(getattr(func, "overloadpacket", func))
        if "batch_norm" in name:
            self.seen.add(replies.cap_text(name, 100))
        return func(*args, **(kwargs or {}))


def _tensor_attr(module: Any, name: str) -> torch.Tensor | None:
    t = getattr(module, name, None)
    return t.detach().clone() if isinstance(t, torch.Tensor) else None


def _grad_of(module: Any, name: str) -> torch.Tensor | None:
    p = getattr(module, name, None)
    if isinstance(p, torch.Tensor) and p.grad is not None:
        return p.grad.detach().clone()
    return None


def _has_history(module: Any) -> bool:
    for name in ("running_mean", "running_var"):
        t = getattr(module, name, None)
        if isinstance(t, torch.Tensor) and (t.requires_grad or t.grad_fn is not None):
            return True
    return False


def probe_manual_batchnorm(
    module: Any,
    *,
    num_features: int,
    kwargs: dict[str, float],
    weight: torch.Tensor,
    bias: torch.Tensor,
    train_steps: list[dict[str, torch.Tensor]],
    eval_x: torch.Tensor,
) -> ManualBatchnormReply:
    """Drive ManualBatchNorm1d through training steps and an evaluation; record everything,
    including any batch-norm operator of PyTorch that ran."""
    operators = _BatchNormOperators()
    cls = student(module, "ManualBatchNorm1d")
    with operators:
        bn = cls(num_features, **kwargs)
        is_module = isinstance(bn, nn.Module)
        reply = ManualBatchnormReply(
            is_module=is_module,
            builtin_submodules=sorted(
                type(m).__name__
                for m in (bn.modules() if is_module else [])
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ),
            builtin_ops=[],
            params={k: v.detach().clone() for k, v in bn.named_parameters()} if is_module else {},
            buffers={k: v.detach().clone() for k, v in bn.named_buffers()} if is_module else {},
        )
        with torch.no_grad():
            if isinstance(getattr(bn, "weight", None), torch.Tensor):
                bn.weight.copy_(weight)
            if isinstance(getattr(bn, "bias", None), torch.Tensor):
                bn.bias.copy_(bias)
        bn.train()
        for step in train_steps:
            x = step["x"].clone().requires_grad_(True)
            y = bn(x)
            _backward(y, step["grad_out"])
            reply.steps.append(
                BatchnormStep(
                    y=y.detach().clone(),
                    grad_x=None if x.grad is None else x.grad.clone(),
                    grad_weight=_grad_of(bn, "weight"),
                    grad_bias=_grad_of(bn, "bias"),
                    running_mean=_tensor_attr(bn, "running_mean"),
                    running_var=_tensor_attr(bn, "running_var"),
                    buffers_have_history=_has_history(bn),
                )
            )
            for p in bn.parameters():
                p.grad = None
        bn.eval()
        with torch.no_grad():
            reply.eval_y = bn(eval_x).clone()
        reply.running_mean_after_eval = _tensor_attr(bn, "running_mean")
        reply.running_var_after_eval = _tensor_attr(bn, "running_var")
    reply.builtin_ops = sorted(operators.seen)
    return reply


def _backward(y: Any, grad_out: torch.Tensor) -> None:
    """``y.backward(grad_out)``, as the vector-Jacobian product through a sum (the same numbers:
    the sum hands ``grad_out`` on unchanged): torch's own shape check of ``grad_out`` imports
    sympy the first time, a second of the grading. Anything but a tensor of ``grad_out``'s
    shape gets ``y.backward(grad_out)`` itself, and its error."""
    if isinstance(y, torch.Tensor) and y.shape == grad_out.shape and y.dtype == grad_out.dtype:
        (y * grad_out).sum().backward()
    else:
        y.backward(grad_out)


# --------------------------------------------------------------------------------------------
# The table the worker serves: each probe's reply goes out as plain data
# --------------------------------------------------------------------------------------------


def _wired(probe: Callable[..., Any]) -> Callable[..., Any]:
    def serve(module: Any, **kwargs: Any) -> Any:
        return replies.to_wire(probe(module, **kwargs))

    serve.__doc__ = probe.__doc__
    return serve


PROBES: dict[str, Callable[..., Any]] = {
    "add_batchnorm": _wired(probe_add_batchnorm),
    "compute_grad_norm": _wired(probe_grad_norm),
    "clip_gradients": _wired(probe_clip),
    "compare_runs_protocol": _wired(probe_compare_runs_protocol),
    "compare_runs_train": _wired(probe_compare_runs_train),
    "manual_batchnorm": _wired(probe_manual_batchnorm),
}
assert set(PROBES) == set(replies.REPLY_TYPES)
