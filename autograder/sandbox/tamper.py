"""Tampering: the identity of the torch functions the probes and the protocol rely on.

Runs inside the student process. ``torch_fingerprint()`` is taken before the submission is
imported; ``changed_since`` lists what differs afterwards (reported to the grader as plain data).

Torch replaces some of these functions itself, lazily: the first optimizer created imports
``torch._dynamo`` (which wraps ``torch.manual_seed``) and wraps its class's ``step``. The
fingerprint is taken after ``settle_torch`` has set those off, so that what is listed is only
what the submission changed. ``WATCHED`` is what the grader accepts as a name in a report.
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


WATCHED: frozenset[str] = frozenset(_WATCHED)


def settle_torch() -> None:
    """Let torch do its own lazy patching of the watched functions now (see the module doc)."""
    param = nn.Parameter(torch.zeros(1))
    param.grad = torch.zeros(1)
    optimizer = torch.optim.SGD([param], lr=0.1)
    optimizer.zero_grad()
    optimizer.step()


def torch_fingerprint() -> dict[str, int]:
    """The identity of every watched function, after torch's own lazy patching."""
    settle_torch()
    return {name: id(get()) for name, get in _WATCHED.items()}


def changed_since(fingerprint: dict[str, int]) -> list[str]:
    return sorted(name for name, get in _WATCHED.items() if id(get()) != fingerprint.get(name))
