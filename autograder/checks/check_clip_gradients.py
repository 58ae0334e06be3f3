"""Section 3: clip_gradients."""

from __future__ import annotations

import math

import torch

from autograder.checks.gradients import SHAPES, make_grads, total_norm
from autograder.feedback import expect, fmt, is_close
from autograder.markers import points, tag

pytestmark = tag("clip_gradients")

BIG = [2.0, 9.0, 0.05, 4.0, 0.5]  # total 2-norm far above 1, very uneven per tensor
SMALL = [0.02, 0.05, 0.01, 0.03, 0.02]  # total 2-norm well below 1


def _clip(probe, scales, *, max_norm, p=None, seed=0, none_at=()):
    grads = make_grads(scales, seed=seed, none_at=none_at)
    got = probe("clip_gradients", grads=grads, shapes=SHAPES, max_norm=max_norm, norm_type=p)
    return grads, got


def _after_norm(got: dict, p: float) -> float | None:
    grads = got["grads_after"]
    if not isinstance(grads, list) or any(
        g is not None and not isinstance(g, torch.Tensor) for g in grads
    ):
        return None
    return total_norm(grads, p)


def _shape_of_mistake(before: list, after: list) -> str:
    """Tell uniform rescaling from per-tensor clipping and value clamping."""
    ratios = []
    for b, a in zip(before, after, strict=True):
        if b is None or a is None:
            continue
        nb = b.double().norm().item()
        if nb > 0:
            ratios.append(a.double().norm().item() / nb)
    if ratios and max(ratios) - min(ratios) > 1e-3 * max(ratios):
        flat_after = torch.cat([a.double().flatten() for a in after if a is not None])
        if (
            flat_after.abs().max() <= 1.0 + 1e-6
            and (flat_after.abs() == flat_after.abs().max()).sum() > 1
        ):
            return "values look clamped element-wise (value clipping), which changes the direction."
        return (
            "different tensors were scaled by different factors (per-tensor clipping?): one "
            "common factor max_norm / total_norm must multiply every gradient."
        )
    return "scale every gradient in place by max_norm / (total_norm + 1e-6)."


@points(4)
def check_bound_holds(probe):
    """clip_gradients: afterwards the total 2-norm equals max_norm (when it was above)"""
    for max_norm, seed in ((1.0, 11), (2.5, 12)):
        grads, got = _clip(probe, BIG, max_norm=max_norm, seed=seed)
        after = _after_norm(got, 2.0)
        expect(
            after is not None and max_norm * (1 - 1e-3) <= after <= max_norm * (1 + 1e-4),
            expected=f"total 2-norm {max_norm:g} after clipping gradients of norm "
            f"{total_norm(grads, 2.0):.4g}",
            got=fmt(after) if after is not None else "gradients missing after the call",
            hint=_shape_of_mistake(grads, got["grads_after"])
            if after is not None
            else "clip in place: modify p.grad, do not replace it with None.",
        )


@points(5)
def check_uniform_rescaling(probe):
    """clip_gradients: every gradient is scaled by one common factor (direction kept)"""
    grads, got = _clip(probe, BIG, max_norm=1.0, seed=13, none_at=(2,))
    factor = 1.0 / (total_norm(grads, 2.0) + 1e-6)
    ok = all(
        (b is None and a is None)
        or (
            b is not None
            and a is not None
            and torch.allclose(a.double(), factor * b.double(), rtol=1e-4, atol=1e-8)
        )
        for b, a in zip(grads, got["grads_after"], strict=True)
    )
    expect(
        ok,
        expected=f"every gradient multiplied by the same factor {factor:.4g}",
        got="gradients changed by different amounts",
        hint=_shape_of_mistake(grads, got["grads_after"]),
    )
    expect(
        not got["params_changed"],
        expected="the parameters themselves unchanged (only .grad is clipped)",
        got="parameter values changed",
        hint="modify p.grad, not p (or p.data).",
    )


@points(4)
def check_no_change_below_threshold(probe):
    """clip_gradients: below the threshold nothing changes (no scaling up)"""
    grads, got = _clip(probe, SMALL, max_norm=1.0, seed=14)
    ok = all(
        torch.allclose(a.double(), b.double(), rtol=1e-6, atol=0.0)
        for a, b in zip(got["grads_after"], grads, strict=True)
    )
    expect(
        ok,
        expected=f"gradients of total norm {total_norm(grads, 2.0):.3g} < max_norm = 1 untouched",
        got=f"total norm {fmt(_after_norm(got, 2.0))} afterwards",
        hint="only rescale when the total norm exceeds max_norm; never scale gradients up "
        "(clip the factor at 1).",
    )


@points(3)
def check_returns_pre_clip_norm(probe):
    """clip_gradients: returns the total norm measured before clipping, as a Python float"""
    grads, got = _clip(probe, BIG, max_norm=1.0, seed=15)
    want = total_norm(grads, 2.0)
    expect(
        is_close(got["value"], want, rtol=1e-4),
        expected=f"{want:.6g} (the norm before clipping)",
        got=fmt(got["value"]) if got["value"] is not None else f"a {got['type']}",
        hint="return the norm measured before rescaling (like torch.nn.utils.clip_grad_norm_), "
        "not the norm after it."
        if got["value"] is not None and abs(got["value"] - 1.0) < 1e-3
        else "measure the total norm first (compute_grad_norm) and return it.",
    )
    expect(
        got["type"] == "builtins.float",
        expected="a Python float",
        got=f"a {got['type']}",
        hint="torch.nn.utils.clip_grad_norm_ returns a tensor: call .item() on it.",
    )


@points(2)
def check_other_norm_types(probe):
    """clip_gradients: honours norm_type (inf and 1)"""
    for p, seed in ((math.inf, 16), (1.0, 17)):
        _, got = _clip(probe, BIG, max_norm=0.5, p=p, seed=seed)
        after = _after_norm(got, p)
        expect(
            after is not None and 0.5 * (1 - 1e-3) <= after <= 0.5 * (1 + 1e-4),
            expected=f"total {p:g}-norm 0.5 after clipping with norm_type={p:g}",
            got=fmt(after),
            hint="measure the norm with the given norm_type and use it for the factor.",
        )
