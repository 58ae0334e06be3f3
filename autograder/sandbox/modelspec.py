"""Flat ``nn.Sequential`` models as plain data, and back.

A model travels between the two processes as a list of layer descriptions (dicts of str, int,
float and bool) plus a state dict of tensors. Only the layer types below can be rebuilt, so the
grader never instantiates a class chosen by the student.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn as nn

# type name -> constructor arguments read from (and passed back to) the module
LAYER_ARGS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features", "bias"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "ReLU": (),
    "Tanh": (),
    "Sigmoid": (),
    "GELU": (),
    "Identity": (),
    "Flatten": ("start_dim", "end_dim"),
    "MaxPool2d": ("kernel_size", "stride"),
    "AvgPool2d": ("kernel_size", "stride"),
    "AdaptiveAvgPool2d": ("output_size",),
    "Dropout": ("p",),
}
WEIGHTED = ("Linear", "Conv2d")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):  # e.g. Linear.bias -> whether there is one
        return True
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def describe_layer(module: nn.Module) -> dict[str, Any]:
    """A plain-data description of one layer; unknown classes are described by name only."""
    name = type(module).__name__
    cls = f"{type(module).__module__}.{type(module).__qualname__}"
    if name not in LAYER_ARGS or cls != f"torch.nn.modules.{_torch_submodule(name)}.{name}":
        return {"type": "unknown", "class": cls, "repr": repr(module)[:300]}
    desc: dict[str, Any] = {"type": name}
    for arg in LAYER_ARGS[name]:
        value = getattr(module, arg, None)
        if arg == "bias":
            value = module.bias is not None
        desc[arg] = _plain(value)
    return desc


def _torch_submodule(name: str) -> str:
    return {
        "Linear": "linear",
        "Identity": "linear",
        "Conv2d": "conv",
        "BatchNorm1d": "batchnorm",
        "BatchNorm2d": "batchnorm",
        "ReLU": "activation",
        "Tanh": "activation",
        "Sigmoid": "activation",
        "GELU": "activation",
        "Flatten": "flatten",
        "MaxPool2d": "pooling",
        "AvgPool2d": "pooling",
        "AdaptiveAvgPool2d": "pooling",
        "Dropout": "dropout",
    }[name]


def describe_model(model: Any) -> dict[str, Any]:
    """Class, layer descriptions and a detached copy of the state dict of ``model``."""
    desc: dict[str, Any] = {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "is_sequential": type(model) is nn.Sequential,
        "layers": [],
        "state": {},
    }
    if isinstance(model, nn.Module):
        desc["layers"] = [describe_layer(m) for m in model.children()]
        desc["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return desc


def build_layer(desc: dict[str, Any]) -> nn.Module:
    name = desc.get("type")
    if name not in LAYER_ARGS:
        raise ValueError(f"cannot rebuild a layer of type {desc.get('class', name)!r}")
    kwargs = {arg: desc[arg] for arg in LAYER_ARGS[name] if arg in desc}
    for key in ("kernel_size", "stride", "padding", "output_size"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return getattr(nn, name)(**kwargs)


def build_model(layers: list[dict[str, Any]], state: dict[str, torch.Tensor] | None = None):
    """Rebuild an ``nn.Sequential`` from layer descriptions (and optionally load a state dict)."""
    model = nn.Sequential(*[build_layer(d) for d in layers])
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model


def mlp(sizes: list[int], activation: str = "ReLU", flatten: bool = False) -> list[dict]:
    """Layer descriptions of an MLP with the given widths, e.g. [784, 64, 10]."""
    layers: list[dict] = [{"type": "Flatten", "start_dim": 1, "end_dim": -1}] if flatten else []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append({"type": "Linear", "in_features": a, "out_features": b, "bias": True})
        if i < len(sizes) - 2:
            layers.append({"type": activation})
    return layers
