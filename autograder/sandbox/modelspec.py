"""Flat ``nn.Sequential`` models as plain data, and back.

A model travels between the two processes as a ``replies.ModelDesc``: its leaf layers in order
(nested ``nn.Sequential`` containers flattened), each with its type, constructor arguments and
its own parameters and buffers. Layers are identified by POSITION, never by the names of the
children, so ``nn.Sequential(OrderedDict(...))``, ``add_module``, ``insert`` and ``append``
describe the same model as ``nn.Sequential(*layers)``.

The grader rebuilds a model (``build_model``) only from the layer types below, after checking
every constructor argument, that the tensors sent have exactly the shapes those arguments give,
and that the whole model stays under a parameter cap; it never instantiates a class chosen by the
student, and a lying ``in_features`` cannot make it allocate anything large.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn

from .replies import LayerDesc, ModelDesc, cap_text

_BN_ARGS = ("num_features", "eps", "momentum", "affine", "track_running_stats")
# type name -> (torch.nn submodule, constructor arguments read from and passed back to the module)
LAYER_ARGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Linear": ("linear", ("in_features", "out_features", "bias")),
    "Conv2d": ("conv", ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias")),
    "BatchNorm1d": (
        "batchnorm",
        ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    ),
    "BatchNorm2d": (
        "batchnorm",
        ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    ),
    "ReLU": ("activation", ()),
    "Tanh": ("activation", ()),
    "Sigmoid": ("activation", ()),
    "GELU": ("activation", ()),
    "Identity": ("linear", ()),
    "Flatten": ("flatten", ("start_dim", "end_dim")),
    "MaxPool2d": ("pooling", ("kernel_size", "stride")),
    "AvgPool2d": ("pooling", ("kernel_size", "stride")),
    "AdaptiveAvgPool2d": ("pooling", ("output_size",)),
    "Dropout": ("dropout", ("p",)),
}
BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d")
WEIGHTED = ("Linear", "Conv2d")

# Bounds on what the grader agrees to rebuild (an honest model is far below them)
MAX_LAYERS = 64
MAX_FEATURES = 1 << 16  # in/out features, channels
MAX_KERNEL = 15
MAX_PARAMETERS = 5_000_000  # in the whole model


class RebuildError(ValueError):
    """A model description the grader will not rebuild; the message says why, for the student."""


# --------------------------------------------------------------------------------------------
# Describing (student side, and the grader's own reference models)
# --------------------------------------------------------------------------------------------


def leaf_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The children of ``model`` in order, with nested ``nn.Sequential``s flattened."""
    for child in model.children():
        if type(child) is nn.Sequential:
            yield from leaf_layers(child)
        else:
            yield child


def _qualified(obj: Any) -> str:
    return cap_text(f"{type(obj).__module__}.{type(obj).__qualname__}", 200)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [int(v) if isinstance(v, int) else cap_text(repr(v), 100) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return cap_text(repr(value), 100)


def describe_layer(module: nn.Module) -> LayerDesc:
    """One layer as plain data; a class outside ``LAYER_ARGS`` is described by name only."""
    name = type(module).__name__
    known = name in LAYER_ARGS and type(module) is getattr(nn, name, None)
    desc = LayerDesc(
        type=name if known else "unknown",
        cls=_qualified(module),
        params={k: v.detach().clone() for k, v in module.named_parameters(recurse=False)},
        buffers={k: v.detach().clone() for k, v in module.named_buffers(recurse=False)},
    )
    if known:
        for arg in LAYER_ARGS[name][1]:
            value = getattr(module, arg, None)
            desc.args[arg] = (module.bias is not None) if arg == "bias" else _plain(value)
    else:
        desc.detail = cap_text(repr(module), 300)
    return desc


def describe_model(model: Any) -> ModelDesc:
    """The class, mode and leaf layers of ``model`` (anything: not only modules)."""
    if not isinstance(model, nn.Module):
        return ModelDesc(cls=_qualified(model))
    return ModelDesc(
        cls=_qualified(model),
        is_module=True,
        is_sequential=type(model) is nn.Sequential,
        training=bool(model.training),
        layers=[describe_layer(m) for m in itertools.islice(leaf_layers(model), 4 * MAX_LAYERS)],
    )


def layer_buffers(model: nn.Module) -> list[dict[str, torch.Tensor]]:
    """The buffers (running statistics) of each leaf layer, by position."""
    return [
        {k: v.detach().clone() for k, v in m.named_buffers(recurse=False)}
        for m in leaf_layers(model)
    ]


def layer_states(model: nn.Module) -> list[dict[str, torch.Tensor]]:
    """Parameters and buffers of each leaf layer, by position."""
    return [
        {
            k: v.detach().clone()
            for k, v in itertools.chain(
                m.named_parameters(recurse=False), m.named_buffers(recurse=False)
            )
        }
        for m in leaf_layers(model)
    ]


# --------------------------------------------------------------------------------------------
# Rebuilding (grader side)
# --------------------------------------------------------------------------------------------


def _int(args: dict[str, Any], name: str, low: int, high: int) -> int:
    value = args.get(name)
    if type(value) is not int or not low <= value <= high:
        raise RebuildError(f"{name}={value!r} (expected an integer from {low} to {high})")
    return value


def _pair(args: dict[str, Any], name: str, low: int, high: int) -> tuple[int, int]:
    value = args.get(name)
    if type(value) is int:
        value = [value, value]
    if (
        type(value) is not list
        or len(value) != 2
        or not all(type(v) is int and low <= v <= high for v in value)
    ):
        raise RebuildError(f"{name}={value!r} (expected one or two integers from {low} to {high})")
    return value[0], value[1]


def _flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name)
    if type(value) is not bool:
        raise RebuildError(f"{name}={value!r} (expected True or False)")
    return value


def _number(args: dict[str, Any], name: str, low: float, high: float) -> float:
    value = args.get(name)
    if type(value) not in (int, float) or not low <= value <= high:
        raise RebuildError(f"{name}={value!r} (expected a number from {low} to {high})")
    return float(value)


def _checked_kwargs(kind: str, args: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The constructor arguments of a ``kind`` layer, checked, and its parameter count."""
    if kind == "Linear":
        n_in, n_out = (_int(args, k, 1, MAX_FEATURES) for k in ("in_features", "out_features"))
        bias = _flag(args, "bias")
        return {"in_features": n_in, "out_features": n_out, "bias": bias}, n_in * n_out + (
            n_out if bias else 0
        )
    if kind == "Conv2d":
        c_in, c_out = (_int(args, k, 1, MAX_FEATURES) for k in ("in_channels", "out_channels"))
        kernel = _pair(args, "kernel_size", 1, MAX_KERNEL)
        kwargs = {
            "in_channels": c_in,
            "out_channels": c_out,
            "kernel_size": kernel,
            "stride": _pair(args, "stride", 1, MAX_KERNEL),
            "padding": _pair(args, "padding", 0, MAX_KERNEL),
            "bias": _flag(args, "bias"),
        }
        count = c_in * c_out * kernel[0] * kernel[1] + (c_out if kwargs["bias"] else 0)
        return kwargs, count
    if kind in BATCH_NORMS:
        n = _int(args, "num_features", 1, MAX_FEATURES)
        kwargs = {
            "num_features": n,
            "eps": _number(args, "eps", 0.0, 1.0),
            "momentum": _number(args, "momentum", 0.0, 1.0)
            if args.get("momentum") is not None
            else None,
            "affine": _flag(args, "affine"),
            "track_running_stats": _flag(args, "track_running_stats"),
        }
        return kwargs, 2 * n
    if kind == "Flatten":
        return {
            "start_dim": _int(args, "start_dim", -8, 8),
            "end_dim": _int(args, "end_dim", -8, 8),
        }, 0
    if kind in ("MaxPool2d", "AvgPool2d"):
        kwargs = {"kernel_size": _pair(args, "kernel_size", 1, MAX_KERNEL)}
        kwargs["stride"] = _pair(args, "stride", 1, MAX_KERNEL)
        return kwargs, 0
    if kind == "AdaptiveAvgPool2d":
        return {"output_size": _pair(args, "output_size", 1, 64)}, 0
    if kind == "Dropout":
        return {"p": _number(args, "p", 0.0, 1.0)}, 0
    return {}, 0  # activations and Identity take no arguments


def build_layer(desc: LayerDesc) -> nn.Module:
    """A fresh layer of an allow-listed type from its checked arguments (no tensors loaded)."""
    return _construct(desc, 0)[0]


def _construct(desc: LayerDesc, index: int) -> tuple[nn.Module, int]:
    if desc.type not in LAYER_ARGS:
        raise RebuildError(f"layer {index} is a {desc.cls}, which the grader cannot rebuild")
    try:
        kwargs, count = _checked_kwargs(desc.type, desc.args)
    except RebuildError as exc:
        raise RebuildError(f"layer {index} ({desc.type}): {exc}") from None
    return getattr(nn, desc.type)(**kwargs), count


def build_model(layers: list[LayerDesc], *, load_state: bool = False) -> nn.Sequential:
    """Rebuild an ``nn.Sequential`` from layer descriptions; with ``load_state``, also load
    each layer's tensors, which must have exactly the shapes its arguments give."""
    if len(layers) > MAX_LAYERS:
        raise RebuildError(f"{len(layers)} layers (the grader rebuilds at most {MAX_LAYERS})")
    total = 0
    for index, desc in enumerate(layers):  # count before allocating anything
        if desc.type not in LAYER_ARGS:
            raise RebuildError(f"layer {index} is a {desc.cls}, which the grader cannot rebuild")
        try:
            total += _checked_kwargs(desc.type, desc.args)[1]
        except RebuildError as exc:
            raise RebuildError(f"layer {index} ({desc.type}): {exc}") from None
    if total > MAX_PARAMETERS:
        raise RebuildError(f"{total} parameters (the grader rebuilds at most {MAX_PARAMETERS})")
    modules = [_construct(desc, i)[0] for i, desc in enumerate(layers)]
    if load_state:
        for index, (module, desc) in enumerate(zip(modules, layers, strict=True)):
            _load(module, desc, index)
    return nn.Sequential(*modules)


def _load(module: nn.Module, desc: LayerDesc, index: int) -> None:
    own = dict(
        itertools.chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False))
    )
    sent = {**desc.params, **desc.buffers}
    if set(sent) != set(own):
        raise RebuildError(
            f"layer {index} ({desc.type}) has tensors {sorted(sent)[:6]}, expected {sorted(own)}"
        )
    with torch.no_grad():
        for name, target in own.items():
            value = sent[name]
            if tuple(value.shape) != tuple(target.shape):
                raise RebuildError(
                    f"layer {index} ({desc.type}): {name} has shape {tuple(value.shape)}, but its "
                    f"arguments {desc.args} give {tuple(target.shape)}"
                )
            if value.dtype.is_floating_point != target.dtype.is_floating_point:
                raise RebuildError(f"layer {index} ({desc.type}): {name} of dtype {value.dtype}")
            target.copy_(value)


def parameter_count(layers: list[LayerDesc]) -> int:
    """Parameters of the model the descriptions give (checked arguments; 0 for unknown ones)."""
    total = 0
    for desc in layers:
        if desc.type in LAYER_ARGS:
            try:
                total += _checked_kwargs(desc.type, desc.args)[1]
            except RebuildError:
                pass
    return total


# --------------------------------------------------------------------------------------------
# Building the grader's own models
# --------------------------------------------------------------------------------------------


def layer(kind: str, **args: Any) -> LayerDesc:
    """A layer description written by the grader, with PyTorch's defaults filled in."""
    defaults: dict[str, dict[str, Any]] = {
        "Linear": {"bias": True},
        "Conv2d": {"stride": 1, "padding": 0, "bias": True},
        "BatchNorm1d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True},
        "BatchNorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True},
        "Flatten": {"start_dim": 1, "end_dim": -1},
        "MaxPool2d": {"stride": None},
        "AvgPool2d": {"stride": None},
    }
    merged = {**defaults.get(kind, {}), **args}
    if kind in ("MaxPool2d", "AvgPool2d") and merged["stride"] is None:
        merged["stride"] = merged["kernel_size"]
    if kind == "Conv2d":  # nn.Conv2d keeps these as pairs
        for key in ("kernel_size", "stride", "padding"):
            if isinstance(merged[key], int):
                merged[key] = [merged[key], merged[key]]
    return LayerDesc(type=kind, cls=f"torch.nn.modules.{LAYER_ARGS[kind][0]}.{kind}", args=merged)


def mlp(sizes: list[int], activation: str = "ReLU", flatten: bool = False) -> list[LayerDesc]:
    """Layer descriptions of an MLP with the given widths, e.g. [784, 64, 10]."""
    layers = [layer("Flatten")] if flatten else []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(layer("Linear", in_features=a, out_features=b))
        if i < len(sizes) - 2:
            layers.append(layer(activation))
    return layers


def same_layer(a: LayerDesc, b: LayerDesc) -> bool:
    """Same type and the same constructor arguments (numbers compared with a tolerance)."""
    if a.type != b.type or (a.type == "unknown" and a.cls != b.cls):
        return False
    if set(a.args) != set(b.args):
        return False
    for key, value in a.args.items():
        other = b.args[key]
        if isinstance(value, float) or isinstance(other, float):
            if not isinstance(value, int | float) or not isinstance(other, int | float):
                return False
            if not math.isclose(float(value), float(other), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif value != other:
            return False
    return True
