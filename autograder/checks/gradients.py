"""Gradient fixtures for the compute_grad_norm and clip_gradients checks (trusted side)."""

from __future__ import annotations

import math

import torch

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
        "the sum of the per-tensor norms": sum(per),
        "the mean of the per-tensor norms": sum(per) / len(per),
        "the norm of the last gradient only": per[-1],
        "the norm of the first gradient only": per[0],
    }
    if not math.isinf(p):
        answers["the p-th power of the norm (no root)"] = total_norm(grads, p) ** p
        answers["the 2-norm (norm_type ignored)"] = total_norm(grads, 2.0)
    return answers


def diagnose(value: float | None, grads: list, p: float) -> str:
    if value is None:
        return "Return a Python float (for a tensor t, t.item())."
    for what, wrong in wrong_answers(grads, p).items():
        if abs(value - wrong) <= 1e-4 * max(1.0, abs(wrong)):
            return f"your value equals {what}."
    return (
        "the total p-norm treats all gradient entries as one vector: "
        "(sum over all entries |g|^p)^(1/p), or the largest |g| for p = inf."
    )
