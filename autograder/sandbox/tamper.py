"""Tampering: the identity of the torch functions the probes and the protocol rely on.

Runs inside the student process. ``torch_fingerprint()`` is taken before the submission is
imported; ``changed_since`` lists what differs afterwards (reported to the grader as plain data).

Torch replaces some of these functions itself, lazily: importing ``torch._dynamo`` (which the
first optimizer step does) wraps ``torch.manual_seed``, and the first optimizer of a class wraps
its ``step``. Those wrappers are recognised rather than set off in advance (which would cost
every grading the 1.5 s import of ``torch._dynamo`` before the submission's): a watched function
that changed counts as unchanged only when it is one of torch's own wrappers (its code object,
globals and closure those of torch's wrapper factories, as found before any student code ran)
around the very function of the fingerprint. ``WATCHED`` is what the grader accepts as a name in
a report.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Fingerprint:
    """The watched functions, and torch's lazy wrappers' code and globals (see the module doc)."""

    functions: dict[str, Any]
    wrappers: tuple[tuple[Any, dict[str, Any]], ...]  # (code object, globals) of each factory


def _lazy_wrapper_kinds() -> tuple[tuple[Any, dict[str, Any]], ...]:
    """The code objects and globals of the wrappers torch puts on watched functions lazily:
    ``torch._disable_dynamo`` (``torch.manual_seed``, once ``torch._dynamo`` is imported) and
    ``Optimizer.profile_hook_step`` (``step``, once an optimizer of the class exists). Making
    them neither imports ``torch._dynamo`` nor changes anything."""
    import torch

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    kinds = []
    for factory in (torch._disable_dynamo, torch.optim.Optimizer.profile_hook_step):
        wrapper = factory(nothing)
        kinds.append((wrapper.__code__, wrapper.__globals__))
    return tuple(kinds)


def torch_fingerprint() -> Fingerprint:
    """The watched functions as they are now (before the submission is imported)."""
    return Fingerprint(
        functions={name: _current(name) for name in sorted(WATCHED)},
        wrappers=_lazy_wrapper_kinds(),
    )


def _torchs_wrapper_of(current: Any, original: Any, fingerprint: Fingerprint) -> bool:
    """Whether ``current`` is one of torch's lazy wrappers around ``original``."""
    code = getattr(current, "__code__", None)
    kind = next((k for k in fingerprint.wrappers if k[0] is code), None)
    if kind is None or getattr(current, "__globals__", None) is not kind[1]:
        return False
    cells = getattr(current, "__closure__", None) or ()
    try:
        return any(cell.cell_contents is original for cell in cells)
    except ValueError:  # an empty cell
        return False


def changed_since(fingerprint: Fingerprint) -> list[str]:
    """The watched names that now refer to something else than torch's own function."""
    changed = []
    for name, original in fingerprint.functions.items():
        current = _current(name)
        if current is not original and not _torchs_wrapper_of(current, original, fingerprint):
            changed.append(name)
    return sorted(changed)
