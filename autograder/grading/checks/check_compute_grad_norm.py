"""Section 2: compute_grad_norm."""

from __future__ import annotations

import math

from autograder.grading.checks.gradients import SHAPES, diagnose, make_grads, same_grads, total_norm
from autograder.grading.feedback import CheckFailed, expect, fmt, is_close
from autograder.grading.markers import points, tag
from autograder.sandbox.replies import GradNormReply

pytestmark = tag("compute_grad_norm")

SCALES = [0.5, 3.0, 0.01, 1.5, 0.2]
RTOL = 1e-4


def _norm(probe, p: float | None, *, seed: int, none_at: tuple[int, ...] = ()) -> tuple:
    grads = make_grads(SCALES, seed=seed, none_at=none_at)
    got: GradNormReply = probe(
        "compute_grad_norm", key=f"{p}:{seed}", grads=grads, shapes=SHAPES, norm_type=p
    )
    return grads, got


def _check_norm(probe, p: float | None, *, seed: int, none_at: tuple[int, ...] = ()) -> None:
    grads, got = _norm(probe, p, seed=seed, none_at=none_at)
    p_value = 2.0 if p is None else p
    want = total_norm(grads, p_value)
    label = "default norm_type (2)" if p is None else f"norm_type={p:g}"
    if is_close(got.value, want, rtol=RTOL, atol=1e-7):
        return
    cause, hint = diagnose(
        got.value, grads, p_value, changed=not same_grads(got.grads_after, grads)
    )
    raise CheckFailed(
        expected=f"{want:.6g} for the gradients of five parameters with {label}",
        got=fmt(got.value) if got.value is not None else f"a {got.type}",
        hint=hint,
        cause=cause,
    )


@points(4)
def check_two_norm(probe):
    """compute_grad_norm: total 2-norm of all gradients together (default norm_type)"""
    _check_norm(probe, None, seed=1)
    _check_norm(probe, 2.0, seed=2)


@points(4)
def check_one_and_inf_norms(probe):
    """compute_grad_norm: 1-norm and inf-norm"""
    _check_norm(probe, 1.0, seed=3)
    _check_norm(probe, math.inf, seed=4)


@points(3)
def check_other_p_norms(probe):
    """compute_grad_norm: other p-norms (p = 3 and p = 0.5)"""
    _check_norm(probe, 3.0, seed=5)
    _check_norm(probe, 0.5, seed=6)


@points(3)
def check_none_grads_skipped(probe):
    """compute_grad_norm: parameters without gradients are skipped; none at all gives 0.0"""
    _check_norm(probe, 2.0, seed=7, none_at=(1, 3))
    grads = [None] * len(SHAPES)
    got = probe("compute_grad_norm", key="no-grads", grads=grads, shapes=SHAPES, norm_type=2.0)
    expect(
        got.value == 0.0,
        expected="0.0 when no parameter has a gradient",
        got=fmt(got.value) if got.value is not None else f"a {got.type}",
        hint="skip parameters whose .grad is None, and return 0.0 when nothing is left "
        "(torch.stack of an empty list fails).",
    )


@points(4)
def check_returns_float_and_keeps_grads(probe):
    """compute_grad_norm: returns a Python float and leaves the gradients unchanged"""
    grads, got = _norm(probe, 2.0, seed=8, none_at=(2,))
    want = total_norm(grads, 2.0)
    if not is_close(got.value, want, rtol=RTOL, atol=1e-7):  # no credit without the norm itself
        cause, hint = diagnose(got.value, grads, 2.0, changed=False)
        raise CheckFailed(
            expected=f"the total 2-norm {want:.6g}, as a Python float, gradients unchanged",
            got=fmt(got.value) if got.value is not None else f"a {got.type}",
            hint=hint,
            cause=cause,
        )
    expect(
        got.type == "builtins.float",
        expected="a Python float",
        got=f"a {got.type}",
        hint="convert a 0-d tensor with .item() (or float(...)).",
    )
    expect(
        same_grads(got.grads_after, grads),
        expected="the gradients to be left exactly as they were",
        got="some gradients changed (or were set/removed)",
        hint="only read p.grad; in-place operations like p.grad.abs_() or pow_() change it.",
    )
