"""What the student process can be asked to run.

Each probe calls the submission on inputs chosen by the grader and reports raw observations as
plain data (numbers, strings, tensors, model descriptions). No probe decides anything: verdicts
are made by the hidden checks in the grader's own process, against references computed there.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_pre_hook

from . import modelspec, wording

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


class MissingName(AttributeError):
    """The submission does not define a name the grader needs (a student error)."""


def student(module: Any, name: str) -> Any:
    """``module.<name>``, or a MissingName error that the grader reports to the student."""
    value = getattr(module, name, None)
    if value is None:
        raise MissingName(wording.missing_name(name))
    return value


def _as_float(value: Any) -> tuple[float | None, str]:
    """(value as float or None, the Python type name the student returned)."""
    type_name = type(value).__module__ + "." + type(value).__qualname__
    try:
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            return None, type_name
        return float(value), type_name
    except (TypeError, ValueError, RuntimeError):
        return None, type_name


class ParamHolder(nn.Module):
    """A module whose only content is parameters of given shapes and gradients."""

    def __init__(self, grads: list[torch.Tensor | None], shapes: list[list[int]]) -> None:
        super().__init__()
        self.params = nn.ParameterList([nn.Parameter(torch.zeros(shape)) for shape in shapes])
        for p, g in zip(self.params, grads, strict=True):
            p.grad = None if g is None else g.clone()

    def grads(self) -> list[torch.Tensor | None]:
        return [None if p.grad is None else p.grad.detach().clone() for p in self.params]


def _plain_list(values: Any) -> tuple[list[float | None] | None, str]:
    type_name = type(values).__module__ + "." + type(values).__qualname__
    try:
        items = list(values)
    except TypeError:
        return None, type_name
    return [_as_float(v)[0] for v in items], type_name


# --------------------------------------------------------------------------------------------
# add_batchnorm
# --------------------------------------------------------------------------------------------


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if "running_" in k or "num_batches" in k
    }


def probe_add_batchnorm(
    module: Any, *, layers: list[dict], seed: int, x: torch.Tensor, x_other: torch.Tensor
) -> dict[str, Any]:
    """Call add_batchnorm on a freshly built model; observe structure, aliasing and behaviour.

    ``x`` and ``x_other`` share their first sample and differ elsewhere.
    """
    torch.manual_seed(seed)
    model = modelspec.build_model(layers)
    input_params = {id(p) for p in model.parameters()} | {p.data_ptr() for p in model.parameters()}
    result = student(module, "add_batchnorm")(model)
    out: dict[str, Any] = {
        "input_after": modelspec.describe_model(model),
        "result": modelspec.describe_model(result),
        "same_object": result is model,
        "shared_params": [],
    }
    if not isinstance(result, nn.Module):
        return out
    out["shared_params"] = sorted(
        name
        for name, p in result.named_parameters()
        if id(p) in input_params or p.data_ptr() in input_params
    )
    out["result_training"] = result.training
    try:
        result.train()
        y_train = result(x)  # batch statistics
        out["y_train"] = y_train.detach().clone()
        out["buffers_after_train"] = _buffers(result)
        result.eval()
        with torch.no_grad():
            out["y_eval"] = result(x).clone()  # running statistics
            out["y_eval_other"] = result(x_other).clone()
        out["buffers_after_eval"] = _buffers(result)
    except Exception as exc:
        out["forward_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return out


# --------------------------------------------------------------------------------------------
# compute_grad_norm and clip_gradients
# --------------------------------------------------------------------------------------------


def probe_grad_norm(
    module: Any,
    *,
    grads: list[torch.Tensor | None],
    shapes: list[list[int]],
    norm_type: float | None = None,
) -> dict[str, Any]:
    holder = ParamHolder(grads, shapes)
    if norm_type is None:
        value = student(module, "compute_grad_norm")(holder)
    else:
        value = student(module, "compute_grad_norm")(holder, norm_type=norm_type)
    as_float, type_name = _as_float(value)
    return {"value": as_float, "type": type_name, "grads_after": holder.grads()}


def probe_clip(
    module: Any,
    *,
    grads: list[torch.Tensor | None],
    shapes: list[list[int]],
    max_norm: float,
    norm_type: float | None = None,
) -> dict[str, Any]:
    holder = ParamHolder(grads, shapes)
    params_before = [p.detach().clone() for p in holder.params]
    if norm_type is None:
        value = student(module, "clip_gradients")(holder, max_norm)
    else:
        value = student(module, "clip_gradients")(holder, max_norm, norm_type=norm_type)
    as_float, type_name = _as_float(value)
    params_changed = any(
        not torch.equal(a, p.detach()) for a, p in zip(params_before, holder.params, strict=True)
    )
    return {
        "value": as_float,
        "type": type_name,
        "grads_after": holder.grads(),
        "params_changed": params_changed,
    }


# --------------------------------------------------------------------------------------------
# compare_runs
# --------------------------------------------------------------------------------------------


class ShuffledBatches:
    """A DataLoader look-alike over tensors: reshuffles with torch's global RNG at every pass,
    like ``DataLoader(shuffle=True)``; ``on_batch`` (if set) sees every batch it yields."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        name: str = "",
        recorder: Recorder | None = None,
    ) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.name, self.recorder = name, recorder

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        rec = self.recorder
        if rec is not None:
            rec.passes.append({"loader": self.name, "run": rec.run, "order": order.tolist()})
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if rec is not None:
                rec.phase, rec.current_y = self.name, yb
            yield xb, yb
        if rec is not None:
            rec.phase = None


def _grad64(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None:
        return torch.zeros_like(p, dtype=torch.float64)
    return p.grad.detach().double()


class Recorder:
    """Observes a compare_runs call from outside through global module and optimizer hooks."""

    def __init__(self, layers: list[dict]) -> None:
        self.layers = layers
        self.created: list[dict[str, torch.Tensor]] = []
        self.passes: list[dict] = []
        self.forwards: list[dict] = []
        self.steps: list[dict] = []
        self.phase: str | None = None
        self.current_y: torch.Tensor | None = None
        self.last_model: nn.Module | None = None
        self.last_input: torch.Tensor | None = None
        self.last_target: torch.Tensor | None = None
        self._depth = 0
        self._suspended = False
        self.bn_calls: list[dict] = []
        self.helper_calls: list[dict] = []
        self.bn_result: Any = None
        self._created_models: list[nn.Module] = []

    @property
    def run(self) -> int:
        return len(self.created) - 1

    def make_model(self) -> nn.Sequential:
        model = modelspec.build_model(self.layers)
        self.created.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        self._created_models.append(model)
        return model

    def _grads_of(self, model: Any) -> torch.Tensor | None:
        if not isinstance(model, nn.Module):
            return None
        grads = [_grad64(p).flatten() for p in model.parameters()]
        return torch.cat(grads) if grads else None

    def wrap_helper(self, name: str, fn: Callable) -> Callable:
        """Record what compare_runs' own calls of compute_grad_norm / clip_gradients saw and did
        (the grader never calls them itself here: their bugs belong to their own checks)."""

        def recording(model: Any, *args: Any, **kwargs: Any) -> Any:
            before = self._grads_of(model)
            value = fn(model, *args, **kwargs)
            call: dict[str, Any] = {
                "fn": name,
                "step": len(self.steps),  # the step this call precedes
                "value": _as_float(value)[0],
                "before_norm": None if before is None else before.norm().item(),
            }
            if name == "clip_gradients":
                max_norm = args[0] if args else kwargs.get("max_norm")
                call["max_norm"] = _as_float(max_norm)[0]
                call["after"] = self._grads_of(model)
            self.helper_calls.append(call)
            return value

        return recording

    def wrap_add_batchnorm(self, add_batchnorm: Callable) -> Callable:
        """Record calls of the student's add_batchnorm made by compare_runs."""

        def recording(model: Any) -> Any:
            result = add_batchnorm(model)
            self.bn_calls.append(
                {
                    "run": self.run,
                    "arg_is_latest_model": bool(self._created_models)
                    and model is self._created_models[-1],
                }
            )
            self.bn_result = result
            return result

        return recording

    def pre_forward(self, module: nn.Module, args: tuple) -> None:
        if self._suspended or type(module) is not nn.Sequential:
            return
        self._depth += 1
        if self._depth > 1 or not args or not isinstance(args[0], torch.Tensor):
            return
        self.forwards.append(
            {
                "run": self.run,
                "phase": self.phase or "",
                "training": module.training,
                "grad_enabled": torch.is_grad_enabled(),
                "n": int(args[0].shape[0]),
                "pass": len(self.passes) - 1,
                "is_bn_model": module is self.bn_result,
            }
        )
        if self.phase == "train":
            self.last_model, self.last_input, self.last_target = (
                module,
                args[0].detach(),
                self.current_y,
            )

    def post_forward(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self._suspended or type(module) is not nn.Sequential:
            return
        self._depth -= 1
        if self._depth or not self.forwards or self.current_y is None:
            return
        record = self.forwards[-1]
        if "loss" in record or not isinstance(output, torch.Tensor):
            return
        y = self.current_y
        if output.dim() == 2 and output.shape[0] == len(y):
            logits = output.detach().double()
            record["loss"] = F.cross_entropy(logits, y, reduction="sum").item()
            record["correct"] = int((logits.argmax(1) == y).sum().item())

    def pre_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        model = self.last_model
        info: dict[str, Any] = {
            "run": self.run,
            "optimizer": type(optimizer).__name__,
            "lr": float(optimizer.param_groups[0].get("lr", float("nan"))),
            "momentum": float(optimizer.param_groups[0].get("momentum", float("nan"))),
        }
        self.steps.append(info)
        if model is None or self.last_input is None:
            return
        params = list(model.parameters())
        opt_ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        info["optimizer_has_model_params"] = all(id(p) in opt_ids for p in params)
        g_step = torch.cat([_grad64(p).flatten() for p in params])  # what step() will use
        # the gradient of the last training batch alone, from a copy of the model
        twin = copy.deepcopy(model)
        for p in twin.parameters():
            p.grad = None
        twin.train()
        self._suspended = True
        try:
            with torch.enable_grad():
                F.cross_entropy(twin(self.last_input), self.last_target).backward()
        finally:
            self._suspended = False
        g_fresh = torch.cat([_grad64(p).flatten() for p in twin.parameters()])
        info["step_norm"] = g_step.norm().item()
        info["fresh_norm"] = g_fresh.norm().item()
        info["dot"] = torch.dot(g_step, g_fresh).item()
        calls = [c for c in self.helper_calls if c["step"] == len(self.steps) - 1]
        info["norm_calls"] = [c for c in calls if c["fn"] == "compute_grad_norm"]
        clips = [c for c in calls if c["fn"] == "clip_gradients"]
        if clips:
            last = clips[-1]
            info["clip_calls"] = len(clips)
            info["clip_before_norm"] = last["before_norm"]
            info["clip_max_norm"] = last["max_norm"]
            info["clip_value"] = last["value"]
            info["clip_after_diff"] = (g_step - last.pop("after")).norm().item()


def probe_compare_runs_protocol(
    module: Any,
    *,
    layers: list[dict],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    batch_size: int,
    epochs: int,
    lr: float,
    max_norm: float,
    seed: int,
) -> dict[str, Any]:
    """Run compare_runs with instrumented data and model factory; report what happened."""
    rec = Recorder(layers)
    train = ShuffledBatches(train_x, train_y, batch_size, shuffle=True, name="train", recorder=rec)
    val = ShuffledBatches(val_x, val_y, 2 * batch_size, shuffle=False, name="val", recorder=rec)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(rec.pre_forward),
        nn.modules.module.register_module_forward_hook(rec.post_forward),
        register_optimizer_step_pre_hook(rec.pre_step),
    ]
    originals = {
        name: getattr(module, name, None)
        for name in ("add_batchnorm", "compute_grad_norm", "clip_gradients")
    }
    for name, fn in originals.items():
        if callable(fn):
            wrapped = (
                rec.wrap_add_batchnorm(fn) if name == "add_batchnorm" else rec.wrap_helper(name, fn)
            )
            setattr(module, name, wrapped)
    try:
        result = student(module, "compare_runs")(
            rec.make_model, train, val, epochs=epochs, lr=lr, max_norm=max_norm, seed=seed
        )
    finally:
        for h in hooks:
            h.remove()
        for name, fn in originals.items():
            if callable(fn):
                setattr(module, name, fn)
    return {
        "result": _plain_histories(result),
        "created": rec.created,
        "passes": rec.passes,
        "forwards": rec.forwards,
        "steps": rec.steps,
        "bn_calls": rec.bn_calls,
    }


def _plain_histories(result: Any) -> dict[str, Any]:
    """The histories returned by compare_runs as plain data, with the types seen."""
    out: dict[str, Any] = {"type": type(result).__name__, "runs": {}}
    if not isinstance(result, dict):
        return out
    for run in ("baseline", "regularized"):
        history = result.get(run)
        if not isinstance(history, dict):
            out["runs"][run] = None
            continue
        entry: dict[str, Any] = {"keys": sorted(str(k) for k in history)}
        for key in ("train_loss", "val_loss", "val_acc", "grad_norm"):
            if key in history:
                entry[key], entry[f"{key}_type"] = _plain_list(history[key])
        model = history.get("model")
        entry["model"] = modelspec.describe_model(model)
        entry["model_training"] = bool(getattr(model, "training", False))
        out["runs"][run] = entry
    return out


def probe_compare_runs_train(
    module: Any,
    *,
    layers: list[dict],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    batch_size: int,
    epochs: int,
    lr: float,
    max_norm: float,
    seed: int,
) -> dict[str, Any]:
    """Run compare_runs on real data (already standardised by the grader); report the result."""
    from torch.utils.data import DataLoader, TensorDataset

    train = DataLoader(TensorDataset(train_x, train_y), batch_size, shuffle=True)
    val = DataLoader(TensorDataset(val_x, val_y), 512, shuffle=False)

    def make_model() -> nn.Sequential:
        return modelspec.build_model(layers)

    result = student(module, "compare_runs")(
        make_model, train, val, epochs=epochs, lr=lr, max_norm=max_norm, seed=seed
    )
    return _plain_histories(result)


# --------------------------------------------------------------------------------------------
# ManualBatchNorm1d (bonus)
# --------------------------------------------------------------------------------------------


def probe_manual_batchnorm(
    module: Any,
    *,
    num_features: int,
    kwargs: dict[str, float],
    weight: torch.Tensor,
    bias: torch.Tensor,
    train_steps: list[dict[str, torch.Tensor]],
    eval_x: torch.Tensor,
) -> dict[str, Any]:
    """Drive ManualBatchNorm1d through training steps and an evaluation; record everything.

    Any call of PyTorch's own batch norm during the probe is recorded (and let through).
    """
    used_builtin: list[str] = []
    originals = {"torch.batch_norm": torch.batch_norm, "F.batch_norm": F.batch_norm}

    def tripwire(name: str, fn: Callable) -> Callable:
        def wrapped(*args: Any, **kw: Any) -> Any:
            used_builtin.append(name)
            return fn(*args, **kw)

        return wrapped

    torch.batch_norm = tripwire("torch.batch_norm", originals["torch.batch_norm"])
    F.batch_norm = tripwire("torch.nn.functional.batch_norm", originals["F.batch_norm"])
    try:
        bn = student(module, "ManualBatchNorm1d")(num_features, **kwargs)
        out: dict[str, Any] = {
            "is_module": isinstance(bn, nn.Module),
            "builtin_submodules": sorted(
                type(m).__name__
                for m in (bn.modules() if isinstance(bn, nn.Module) else [])
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ),
            "params": {k: v.detach().clone() for k, v in bn.named_parameters()},
            "buffers": {k: v.detach().clone() for k, v in bn.named_buffers()},
            "steps": [],
        }
        with torch.no_grad():
            if isinstance(getattr(bn, "weight", None), torch.Tensor):
                bn.weight.copy_(weight)
            if isinstance(getattr(bn, "bias", None), torch.Tensor):
                bn.bias.copy_(bias)
        bn.train()
        for step in train_steps:
            x = step["x"].clone().requires_grad_(True)
            y = bn(x)
            y.backward(step["grad_out"])
            out["steps"].append(
                {
                    "y": y.detach().clone(),
                    "grad_x": None if x.grad is None else x.grad.clone(),
                    "grad_weight": _grad_of(bn, "weight"),
                    "grad_bias": _grad_of(bn, "bias"),
                    "running_mean": _tensor_attr(bn, "running_mean"),
                    "running_var": _tensor_attr(bn, "running_var"),
                }
            )
            for p in bn.parameters():
                p.grad = None
        bn.eval()
        with torch.no_grad():
            out["eval_y"] = bn(eval_x).clone()
        out["running_mean_after_eval"] = _tensor_attr(bn, "running_mean")
        out["running_var_after_eval"] = _tensor_attr(bn, "running_var")
    finally:
        torch.batch_norm = originals["torch.batch_norm"]
        F.batch_norm = originals["F.batch_norm"]
    out["used_builtin"] = sorted(set(used_builtin))
    return out


def _grad_of(module: nn.Module, name: str) -> torch.Tensor | None:
    p = getattr(module, name, None)
    if isinstance(p, torch.Tensor) and p.grad is not None:
        return p.grad.detach().clone()
    return None


def _tensor_attr(module: nn.Module, name: str) -> torch.Tensor | None:
    t = getattr(module, name, None)
    return t.detach().clone() if isinstance(t, torch.Tensor) else None


PROBES: dict[str, Callable[..., Any]] = {
    "add_batchnorm": probe_add_batchnorm,
    "compute_grad_norm": probe_grad_norm,
    "clip_gradients": probe_clip,
    "compare_runs_protocol": probe_compare_runs_protocol,
    "compare_runs_train": probe_compare_runs_train,
    "manual_batchnorm": probe_manual_batchnorm,
}
