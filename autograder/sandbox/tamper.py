"""Tampering: the identity of the torch functions the probes and the protocol rely on.

Runs inside the student process. ``torch_fingerprint()`` is taken before the submission is
imported; ``changed_since`` lists what differs afterwards (reported to the grader as plain data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

_WATCHED: dict[str, Callable[[], Any]] = {
    "torch.manual_seed": lambda: torch.manual_seed,
    "torch.save": lambda: torch.save,
    "torch.load": lambda: torch.load,
    "torch.stack": lambda: torch.stack,
    "torch.linalg.vector_norm": lambda: torch.linalg.vector_norm,
    "torch.norm": lambda: torch.norm,
    "torch.Tensor.norm": lambda: torch.Tensor.norm,
    "torch.Tensor.backward": lambda: torch.Tensor.backward,
    "torch.nn.utils.clip_grad_norm_": lambda: torch.nn.utils.clip_grad_norm_,
    "torch.nn.Module.__call__": lambda: nn.Module.__call__,
    "torch.nn.Module.train": lambda: nn.Module.train,
    "torch.nn.Module.eval": lambda: nn.Module.eval,
    "torch.nn.Sequential.forward": lambda: nn.Sequential.forward,
    "torch.nn.BatchNorm1d.forward": lambda: nn.BatchNorm1d.forward,
    "torch.nn.functional.batch_norm": lambda: F.batch_norm,
    "torch.nn.functional.cross_entropy": lambda: F.cross_entropy,
    "torch.optim.SGD": lambda: torch.optim.SGD,
    "torch.optim.SGD.step": lambda: torch.optim.SGD.step,
    "torch.optim.Optimizer.zero_grad": lambda: torch.optim.Optimizer.zero_grad,
    "torch.no_grad": lambda: torch.no_grad,
    "torch.is_grad_enabled": lambda: torch.is_grad_enabled,
}


def torch_fingerprint() -> dict[str, int]:
    return {name: id(get()) for name, get in _WATCHED.items()}


def changed_since(fingerprint: dict[str, int]) -> list[str]:
    return sorted(name for name, get in _WATCHED.items() if id(get()) != fingerprint.get(name))
