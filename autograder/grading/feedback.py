"""How hidden checks fail: with what was expected, what the submission did, and a hint.

Checks never use bare ``assert`` on student data: pytest would print the check's source. They
call ``expect(...)`` (or raise ``CheckFailed``), whose message is the whole feedback.

A failure may name its root ``Cause``: when one mistake fails several checks, the plugin lets the
first of them say so and makes the others refer to it, so the student fixes one thing, not five.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Cause:
    """One mistake that can fail several checks: ``key`` identifies it within a grading,
    ``summary`` names it for the student ("add_batchnorm inserted no batch norm")."""

    key: str
    summary: str


class CheckFailed(AssertionError):
    """A check's verdict against the submission, with feedback for the student."""

    def __init__(self, *, expected: str, got: str, hint: str, cause: Cause | None = None) -> None:
        self.expected, self.got, self.hint, self.cause = expected, got, hint, cause
        super().__init__(self.feedback())

    def feedback(self) -> str:
        return f"Expected: {self.expected}\nGot: {self.got}\nHint: {self.hint}"


def expect(ok: bool, *, expected: str, got: str, hint: str, cause: Cause | None = None) -> None:
    if not ok:
        raise CheckFailed(expected=expected, got=got, hint=hint, cause=cause)


def is_close(a: float | None, b: float, *, rtol: float, atol: float = 0.0) -> bool:
    """``a`` (from the student, maybe None/NaN) equals ``b`` within tolerances, in float64."""
    if a is None or not isinstance(a, int | float) or math.isnan(a):
        return False
    return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))


def tensors_close(
    got: torch.Tensor | None, want: torch.Tensor, *, rtol: float, atol: float
) -> bool:
    """Same shape and values within tolerances, both compared in float64."""
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return False
    return torch.allclose(got.double(), want.double(), rtol=rtol, atol=atol)


def max_abs_diff(got: torch.Tensor | None, want: torch.Tensor) -> str:
    """'max |difference| = ...' or a shape mismatch, for feedback."""
    if not isinstance(got, torch.Tensor):
        return f"no tensor ({type(got).__name__})"
    if got.shape != want.shape:
        return f"shape {tuple(got.shape)} instead of {tuple(want.shape)}"
    return f"max |difference| = {(got.double() - want.double()).abs().max().item():.3g}"


def fmt(value: object) -> str:
    """A short, readable rendering of a number or a list of numbers."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = [fmt(v) for v in list(value)[:8]]
        more = ", ..." if len(value) > 8 else ""
        return "[" + ", ".join(items) + more + "]"
    return repr(value)
