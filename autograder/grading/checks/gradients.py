"""Gradient fixtures for the compute_grad_norm and clip_gradients checks (trusted side)."""

from __future__ import annotations

import math

import torch

from autograder.grading.feedback import Cause

SHAPES = [[4, 3], [3], [2, 2, 2], [5], [6, 2]]


def make_grads(scales: list[float], *, seed: int, none_at: tuple[int, ...] = ()) -> list:
    """Gradients of very different sizes per tensor (so per-tensor methods give other answers)."""
    g = torch.Generator().manual_seed(seed)
    grads = []
    for i, (shape, scale) in enumerate(zip(SHAPES, scales, strict=True)):
        grads.append(None if i in none_at else scale * torch.randn(shape, generator=g))
    return grads


def total_norm(grads: list, p: float) -> float:
    """The reference total norm, in float64."""
    flat = torch.cat([g.double().flatten() for g in grads if g is not None])
    if flat.numel() == 0:
        return 0.0
    if math.isinf(p):
        return flat.abs().max().item()
    return flat.abs().pow(p).sum().pow(1.0 / p).item()


def wrong_answers(grads: list, p: float) -> dict[str, float]:
    """What common mistakes return, to turn a wrong number into a pointed hint."""
    present = [g.double() for g in grads if g is not None]
    if not present:
        return {}
    per = [
        g.abs().max().item() if math.isinf(p) else g.abs().pow(p).sum().pow(1 / p).item()
        for g in present
    ]
    answers = {
        "sum-of-norms": sum(per),
        "mean-of-norms": sum(per) / len(per),
        "last-only": per[-1],
        "first-only": per[0],
    }
    if not math.isinf(p):
        answers["no-root"] = total_norm(grads, p) ** p
        answers["ignores-norm-type"] = total_norm(grads, 2.0)
    return answers


MISTAKES = {
    "sum-of-norms": "the sum of the per-tensor norms",
    "mean-of-norms": "the mean of the per-tensor norms",
    "last-only": "the norm of the last gradient only",
    "first-only": "the norm of the first gradient only",
    "no-root": "the p-th power of the norm (no root)",
    "ignores-norm-type": "the 2-norm (norm_type ignored)",
}
ONE_VECTOR = (
    "The total p-norm treats all gradient entries as one vector: (sum over all entries "
    "|g|^p)^(1/p), i.e. the p-norm of the per-tensor p-norms, not their sum."
)
REMEDIES = {
    "sum-of-norms": ONE_VECTOR,
    "mean-of-norms": ONE_VECTOR,
    "last-only": "Include every parameter's gradient: you kept only one of them. " + ONE_VECTOR,
    "first-only": "Include every parameter's gradient: you kept only one of them. " + ONE_VECTOR,
    "no-root": "Take the 1/p-th power of the sum of |g|^p (torch.linalg.vector_norm does it).",
    "ignores-norm-type": "Use the norm_type argument as p (torch.linalg.vector_norm(g, "
    "ord=norm_type)); the 2-norm is only its default.",
}


def diagnose(value: float | None, grads: list, p: float, *, changed: bool) -> tuple[Cause, str]:
    """The likely cause of a wrong total norm, and a hint that names it."""
    if value is None:
        return (
            Cause("compute_grad_norm:type", "compute_grad_norm does not return a number"),
            "return the total norm as a Python float (for a 0-d tensor t, t.item()).",
        )
    if changed:
        return (
            Cause("compute_grad_norm:in-place", "compute_grad_norm changes the gradients"),
            "your function changed the gradients while measuring them (an in-place operation "
            "such as p.grad.abs_() or pow_()): only read p.grad.",
        )
    for key, wrong in wrong_answers(grads, p).items():
        if abs(value - wrong) <= 1e-4 * max(1.0, abs(wrong)):
            what = MISTAKES[key]
            return (
                Cause(f"compute_grad_norm:{key}", f"compute_grad_norm returns {what}"),
                f"your value equals {what}. {REMEDIES[key]}",
            )
    if math.isinf(p):
        return (
            Cause("compute_grad_norm:inf", "compute_grad_norm mishandles norm_type=inf"),
            "for norm_type = inf the total norm is the largest |g| over all entries "
            "(torch.linalg.vector_norm(g, ord=float('inf')), or .abs().max()): the power "
            "formula does not work there.",
        )
    return (
        Cause("compute_grad_norm:value", "compute_grad_norm computes another number"),
        "the total p-norm treats all gradient entries as one vector: "
        "(sum over all entries |g|^p)^(1/p), or the largest |g| for p = inf.",
    )


def same_grads(after: list, before: list) -> bool:
    """The gradients after a call are exactly the ones before (None where None)."""
    if not isinstance(after, list) or len(after) != len(before):
        return False
    return all(
        (a is None and b is None)
        or (
            a is not None
            and b is not None
            and a.shape == b.shape
            and torch.equal(a.double(), b.double())
        )
        for a, b in zip(after, before, strict=True)
    )
