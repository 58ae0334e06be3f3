"""Tampering: the identity of the torch functions the probes and the protocol rely on.

Runs inside the student process. ``torch_fingerprint()`` is taken before the submission is
imported; ``changed_since`` lists what differs afterwards (reported to the grader as plain data).

Torch replaces some of these functions itself, lazily: the first optimizer created imports
``torch._dynamo`` (which wraps ``torch.manual_seed``) and wraps its class's ``step``. The
fingerprint is taken after ``settle_torch`` has set those off, so that what is listed is only
what the submission changed. ``WATCHED`` is what the grader accepts as a name in a report.
"""

from __future__ import annotations

from typing import Any

# What is watched, by dotted name (resolved lazily: the grader imports this without torch)
WATCHED: frozenset[str] = frozenset(
    {
        "torch.manual_seed",
        "torch.save",
        "torch.load",
        "torch.stack",
        "torch.linalg.vector_norm",
        "torch.norm",
        "torch.Tensor.norm",
        "torch.Tensor.backward",
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.Module.__call__",
        "torch.nn.Module.train",
        "torch.nn.Module.eval",
        "torch.nn.Sequential.forward",
        "torch.nn.BatchNorm1d.forward",
        "torch.nn.functional.batch_norm",
        "torch.nn.functional.cross_entropy",
        "torch.optim.SGD",
        "torch.optim.SGD.step",
        "torch.optim.Optimizer.zero_grad",
        "torch.no_grad",
        "torch.is_grad_enabled",
    }
)


def _current(name: str) -> Any:
    """What the dotted ``name`` refers to now (``torch.optim.SGD.step``: the attribute ``step``
    of the class ``torch.optim.SGD``)."""
    import importlib

    parts = name.split(".")
    obj: Any = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def settle_torch() -> None:
    """Let torch do its own lazy patching of the watched functions now (see the module doc)."""
    import torch
    import torch.nn as nn

    param = nn.Parameter(torch.zeros(1))
    param.grad = torch.zeros(1)
    optimizer = torch.optim.SGD([param], lr=0.1)
    optimizer.zero_grad()
    optimizer.step()


def torch_fingerprint() -> dict[str, int]:
    """The identity of every watched function, after torch's own lazy patching."""
    settle_torch()
    return {name: id(_current(name)) for name in sorted(WATCHED)}


def changed_since(fingerprint: dict[str, int]) -> list[str]:
    return sorted(n for n in WATCHED if id(_current(n)) != fingerprint.get(n))
