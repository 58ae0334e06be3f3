"""Section 3: clip_gradients.

While these checks run, the student's ``compute_grad_norm`` is replaced by a correct one in the
student process (``probes.probe_clip``): a mistake in compute_grad_norm costs points in its own
section only, even when clip_gradients calls it.
"""

from __future__ import annotations

import math

import torch

from autograder.grading.checks.gradients import (
    MISTAKES,
    SHAPES,
    make_grads,
    total_norm,
    wrong_answers,
)
from autograder.grading.feedback import Cause, CheckFailed, expect, fmt, is_close
from autograder.grading.markers import points, tag
from autograder.sandbox.replies import ClipReply

pytestmark = tag("clip_gradients")

BIG = [2.0, 9.0, 0.05, 4.0, 0.5]  # total 2-norm far above 1, very uneven per tensor
SMALL = [0.02, 0.05, 0.01, 0.03, 0.02]  # total 2-norm well below 1
EPS = 1e-6

REMOVED = Cause("clip_gradients:removed", "clip_gradients removes or replaces the gradients")
NOTHING = Cause(
    "clip_gradients:nothing", "clip_gradients leaves gradients above max_norm as they are"
)
ONE_MISTAKE_NOTE = (
    " (clip_gradients is graded with a correct compute_grad_norm in place of yours, so this "
    "mistake is in clip_gradients itself)"
)


def _clip(probe, scales, *, max_norm, p=None, seed=0, none_at=()) -> tuple[list, ClipReply]:
    grads = make_grads(scales, seed=seed, none_at=none_at)
    got = probe(
        "clip_gradients",
        key=f"{max_norm}:{p}:{seed}:{none_at}",
        grads=grads,
        shapes=SHAPES,
        max_norm=max_norm,
        norm_type=p,
    )
    return grads, got


def _after_norm(got: ClipReply, before: list, p: float) -> float | None:
    after = got.grads_after
    if len(after) != len(before) or any(
        (a is None) != (b is None) or (a is not None and a.shape != b.shape)
        for a, b in zip(after, before, strict=True)
    ):
        return None
    return total_norm(after, p)


def _ratios(before: list, after: list) -> list[float]:
    """|after_i| / |before_i| for every gradient tensor that is there on both sides."""
    out = []
    for b, a in zip(before, after, strict=True):
        if b is None or a is None or a.shape != b.shape:
            continue
        nb = b.double().norm().item()
        if nb > 0:
            out.append(a.double().norm().item() / nb)
    return out


def factor_mistake(before: list, got: ClipReply, max_norm: float, p: float) -> tuple[Cause, str]:
    """Why the gradients after clip_gradients are not ``before`` times max_norm / total."""
    after = got.grads_after
    if _after_norm(got, before, p) is None:
        return REMOVED, "clip in place: multiply each p.grad; do not set it to None or replace it."
    if got.params_changed:
        return (
            Cause("clip_gradients:params", "clip_gradients scales the parameters"),
            "the parameters themselves changed: scale the gradients, p.grad, not p (or p.data).",
        )
    total = total_norm(before, p)
    want = min(1.0, max_norm / (total + EPS))
    ratios = _ratios(before, after)
    if ratios and max(ratios) - min(ratios) > 1e-3 * max(ratios):
        flat = torch.cat([a.double().flatten() for a in after if a is not None])
        if (flat.abs() >= flat.abs().max() * (1 - 1e-9)).sum() > 2:
            return (
                Cause("clip_gradients:values", "clip_gradients clamps values one by one"),
                "the values look clamped element-wise (value clipping), which changes the "
                "direction: multiply every gradient by one factor max_norm / total_norm.",
            )
        return (
            Cause("clip_gradients:per-tensor", "clip_gradients scales each tensor on its own"),
            "different tensors were scaled by different factors (per-tensor clipping): measure "
            "the total norm of all gradients together and multiply every gradient by the same "
            "factor max_norm / total_norm.",
        )
    r = ratios[0] if ratios else 1.0
    flipped = any(
        b is not None
        and a is not None
        and torch.dot(a.double().flatten(), b.double().flatten()) < 0
        for b, a in zip(before, after, strict=True)
    )
    if flipped:
        return (
            Cause("clip_gradients:sign", "clip_gradients reverses the gradients"),
            "the gradients point the other way after clipping: the factor must be positive.",
        )
    if abs(r - 1.0) <= 1e-6 and want < 1.0:
        return (
            NOTHING,
            f"the total norm {total:.4g} exceeds max_norm = {max_norm:g}, but the gradients were "
            "not changed: multiply every p.grad in place by max_norm / (total_norm + 1e-6).",
        )
    candidates = (
        {}
        if p == 2.0
        else {"max_norm / the 2-norm (norm_type ignored)": max_norm / total_norm(before, 2.0)}
    )
    candidates |= {
        "1 / total_norm (max_norm ignored)": 1.0 / total,
        "total_norm / max_norm (upside down)": total / max_norm,
        "max_norm / total_norm squared": max_norm / total**2,
        "max_norm itself": max_norm,
    }
    candidates.update(
        {f"max_norm / ({MISTAKES[k]})": max_norm / v for k, v in wrong_answers(before, p).items()}
    )
    for what, value in candidates.items():
        if abs(r - value) <= 1e-3 * value:
            return (
                Cause(f"clip_gradients:factor:{what}", f"clip_gradients scales by {what}"),
                f"every gradient was scaled by one factor, as it should, but that factor is {what} "
                f"({r:.4g}) instead of max_norm / total_norm ({want:.4g}).",
            )
    return (
        Cause("clip_gradients:factor", "clip_gradients scales by the wrong factor"),
        f"every gradient was scaled by the same factor {r:.4g}, as it should, but the factor must "
        f"be max_norm / (total_norm + 1e-6) = {want:.4g}.",
    )


def _clipping_works(probe, max_norm: float, seed: int, p: float | None = None) -> None:
    """The bound holds after clipping gradients far above it, else the mistake as a failure."""
    grads, got = _clip(probe, BIG, max_norm=max_norm, p=p, seed=seed)
    p_value = 2.0 if p is None else p
    after = _after_norm(got, grads, p_value)
    if after is not None and max_norm * (1 - 1e-3) <= after <= max_norm * (1 + 1e-4):
        return
    cause, hint = factor_mistake(grads, got, max_norm, p_value)
    label = "2-norm" if p is None else f"{p:g}-norm"
    raise CheckFailed(
        expected=f"total {label} {max_norm:g} after clipping gradients of {label} "
        f"{total_norm(grads, p_value):.4g}",
        got=fmt(after) if after is not None else "gradients missing or replaced after the call",
        hint=hint + ONE_MISTAKE_NOTE if got.called_compute_grad_norm else hint,
        cause=cause,
    )


@points(4)
def check_bound_holds(probe):
    """clip_gradients: afterwards the total 2-norm equals max_norm (when it was above)"""
    _clipping_works(probe, 1.0, seed=11)
    _clipping_works(probe, 2.5, seed=12)


@points(5)
def check_uniform_rescaling(probe):
    """clip_gradients: every gradient is scaled by one common factor (direction kept)"""
    grads, got = _clip(probe, BIG, max_norm=1.0, seed=13, none_at=(2,))
    factor = 1.0 / (total_norm(grads, 2.0) + EPS)
    ok = len(got.grads_after) == len(grads) and all(
        (b is None and a is None)
        or (
            b is not None
            and a is not None
            and a.shape == b.shape
            and torch.allclose(a.double(), factor * b.double(), rtol=1e-4, atol=1e-8)
        )
        for b, a in zip(grads, got.grads_after, strict=True)
    )
    if not ok:
        cause, hint = factor_mistake(grads, got, 1.0, 2.0)
        ratios = _ratios(grads, got.grads_after)
        raise CheckFailed(
            expected=f"every gradient multiplied by the same factor {factor:.4g}",
            got="factors " + fmt(ratios) if ratios else "gradients missing after the call",
            hint=hint,
            cause=cause,
        )
    expect(
        not got.params_changed,
        expected="the parameters themselves unchanged (only .grad is clipped)",
        got="parameter values changed",
        hint="modify p.grad, not p (or p.data).",
    )


@points(4)
def check_no_change_below_threshold(probe):
    """clip_gradients: below the threshold nothing changes (no scaling up)"""
    _clipping_works(probe, 1.0, seed=11)  # no credit for leaving things alone otherwise
    grads, got = _clip(probe, SMALL, max_norm=1.0, seed=14)
    ok = len(got.grads_after) == len(grads) and all(
        a is not None and a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-6)
        for a, b in zip(got.grads_after, grads, strict=True)
    )
    after = _after_norm(got, grads, 2.0)
    expect(
        ok,
        expected=f"gradients of total norm {total_norm(grads, 2.0):.3g} < max_norm = 1 untouched",
        got=f"total norm {fmt(after)} afterwards" if after is not None else "gradients replaced",
        hint="only rescale when the total norm exceeds max_norm; never scale gradients up "
        "(the factor is min(1, max_norm / total_norm)).",
        cause=Cause("clip_gradients:below", "clip_gradients changes gradients below max_norm"),
    )


@points(3)
def check_returns_pre_clip_norm(probe):
    """clip_gradients: returns the total norm measured before clipping, as a Python float"""
    grads, got = _clip(probe, BIG, max_norm=1.0, seed=15)
    if not _ratios(grads, got.grads_after) or abs(_ratios(grads, got.grads_after)[0] - 1) < 1e-6:
        raise CheckFailed(  # no credit for returning a norm without clipping anything
            expected="gradients clipped, and the norm they had before returned",
            got="the gradients were not clipped",
            hint="see the checks above: scale every gradient in place when the norm is too large.",
            cause=NOTHING,
        )
    want = total_norm(grads, 2.0)
    expect(
        is_close(got.value, want, rtol=1e-4),
        expected=f"{want:.6g} (the norm before clipping)",
        got=fmt(got.value) if got.value is not None else f"a {got.type}",
        hint="return the norm measured before rescaling (like torch.nn.utils.clip_grad_norm_), "
        "not the norm after it."
        if got.value is not None and abs(got.value - 1.0) < 1e-3
        else "measure the total norm first (compute_grad_norm) and return that number.",
        cause=Cause("clip_gradients:returns", "clip_gradients returns another number"),
    )
    expect(
        got.type == "builtins.float",
        expected="a Python float",
        got=f"a {got.type}",
        hint="torch.nn.utils.clip_grad_norm_ returns a tensor: call .item() on it.",
    )


@points(2)
def check_other_norm_types(probe):
    """clip_gradients: honours norm_type (inf and 1)"""
    for p, seed in ((math.inf, 16), (1.0, 17)):
        _clipping_works(probe, 0.5, seed=seed, p=p)
