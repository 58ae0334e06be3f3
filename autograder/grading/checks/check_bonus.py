"""Section 6 (extra credit): ManualBatchNorm1d against nn.BatchNorm1d, computed here in float64."""

from __future__ import annotations

import torch
import torch.nn as nn

from autograder.grading.feedback import Cause, CheckFailed, expect, max_abs_diff, tensors_close
from autograder.grading.markers import points, tag
from autograder.sandbox.replies import ManualBatchnormReply

pytestmark = tag("bonus")

C = 5
CONFIGS = {
    "default": {},
    "custom": {"eps": 1e-3, "momentum": 0.3},
}
TOL = {"rtol": 1e-4, "atol": 1e-5}

BUILTIN = Cause("bonus:builtin", "ManualBatchNorm1d uses PyTorch's own batch norm")
TRAIN_MODE = Cause("bonus:train", "the train-mode normalisation differs from nn.BatchNorm1d's")
RUNNING = Cause("bonus:running", "the running statistics differ from nn.BatchNorm1d's")
HISTORY = Cause("bonus:history", "the running statistics carry autograd history")


def _inputs() -> dict:
    g = torch.Generator().manual_seed(99)
    steps = []
    for n, shift in ((16, 2.0), (8, -1.0), (32, 0.5)):  # several batch sizes and statistics
        x = shift + (1.0 + torch.arange(C) / 2) * torch.randn(n, C, generator=g)
        steps.append({"x": x, "grad_out": torch.randn(n, C, generator=g)})
    return {
        "weight": 1.0 + 0.5 * torch.randn(C, generator=g),
        "bias": 0.3 * torch.randn(C, generator=g),
        "train_steps": steps,
        "eval_x": 2.0 * torch.randn(7, C, generator=g),
    }


def observed(probe, config: str) -> ManualBatchnormReply:
    got = probe("manual_batchnorm", key=config, num_features=C, kwargs=CONFIGS[config], **_inputs())
    if got.builtin_ops or got.builtin_submodules:
        raise CheckFailed(
            expected="batch normalisation written with tensor operations only",
            got="it uses " + ", ".join(got.builtin_submodules + got.builtin_ops),
            hint="compute the mean and variance with x.mean(0) and x.var(0, unbiased=False) "
            "yourself; nn.BatchNorm1d, F.batch_norm and torch's batch_norm operators are not "
            "allowed here.",
            cause=BUILTIN,
        )
    return got


def expected(config: str) -> dict:
    """nn.BatchNorm1d in float64 driven through the same steps."""
    data = _inputs()
    bn = nn.BatchNorm1d(C, **CONFIGS[config]).double()
    with torch.no_grad():
        bn.weight.copy_(data["weight"])
        bn.bias.copy_(data["bias"])
    out = {"steps": []}
    bn.train()
    for step in data["train_steps"]:
        x = step["x"].double().requires_grad_(True)
        y = bn(x)
        # the vector-Jacobian product with grad_out, as y.backward(grad_out) computes it (the
        # same numbers: the sum passes grad_out through unchanged); y.backward(grad_out)'s shape
        # check imports sympy the first time, 0.4 s of a grading
        (y * step["grad_out"].double()).sum().backward()
        out["steps"].append(
            {
                "y": y.detach(),
                "grad_x": x.grad,
                "grad_weight": bn.weight.grad.clone(),
                "grad_bias": bn.bias.grad.clone(),
                "running_mean": bn.running_mean.clone(),
                "running_var": bn.running_var.clone(),
            }
        )
        bn.zero_grad()
    bn.eval()
    with torch.no_grad():
        out["eval_y"] = bn(data["eval_x"].double())
    out["running_mean_after_eval"] = bn.running_mean.clone()
    out["running_var_after_eval"] = bn.running_var.clone()
    return out


def _compare(got: ManualBatchnormReply, want: dict, keys: tuple, config: str, hint: str, cause):
    expect(
        len(got.steps) == len(want["steps"]),
        expected=f"{len(want['steps'])} training steps completed",
        got=f"{len(got.steps)}",
        hint=hint,
        cause=cause,
    )
    for k, (g, w) in enumerate(zip(got.steps, want["steps"], strict=True)):
        for key in keys:
            value = getattr(g, key)
            expect(
                tensors_close(value, w[key], **TOL),
                expected=f"{key} after training step {k + 1} ({config} eps/momentum) equal to "
                "nn.BatchNorm1d's",
                got=max_abs_diff(value, w[key]),
                hint=hint,
                cause=cause,
            )


def _train_mode_works(probe, config: str) -> tuple[ManualBatchnormReply, dict]:
    got, want = observed(probe, config), expected(config)
    _compare(
        got,
        want,
        ("y", "grad_x", "grad_weight", "grad_bias"),
        config,
        "normalise with the batch mean and the BIASED variance (divide by N), add eps inside "
        "the square root, then scale by weight and shift by bias; let autograd do backward.",
        TRAIN_MODE,
    )
    return got, want


@points(3)
def check_train_mode_matches(probe):
    """bonus: ManualBatchNorm1d matches nn.BatchNorm1d in train mode (outputs and gradients)"""
    for config in CONFIGS:
        _train_mode_works(probe, config)


@points(3)
def check_running_statistics(probe):
    """bonus: running statistics follow PyTorch's momentum convention (unbiased variance)"""
    for config in CONFIGS:
        got, want = observed(probe, config), expected(config)
        _compare(
            got,
            want,
            ("running_mean", "running_var"),
            config,
            "running = (1 - momentum) * running + momentum * batch_statistic, with the UNBIASED "
            "variance (divide by N - 1) for running_var (the biased one normalises the batch).",
            RUNNING,
        )
        expect(
            not any(s.buffers_have_history for s in got.steps),
            expected="running_mean and running_var as plain buffers, without autograd history",
            got="after a training step they require grad or carry a grad_fn",
            hint="update the running statistics under torch.no_grad() (or from detached "
            "tensors): otherwise every step extends the autograd graph through the buffers.",
            cause=HISTORY,
        )


def _normalised(x: torch.Tensor, mean, var, weight, bias, eps: float) -> torch.Tensor | None:
    if not all(isinstance(t, torch.Tensor) and t.shape == (C,) for t in (mean, var, weight, bias)):
        return None
    x, mean, var = x.double(), mean.double(), var.double()
    return weight.double() * (x - mean) / torch.sqrt(var + eps) + bias.double()


@points(2)
def check_eval_mode(probe):
    """bonus: eval mode normalises with the running statistics and updates nothing"""
    data = _inputs()
    for config in CONFIGS:
        got, want = observed(probe, config), expected(config)
        if tensors_close(got.eval_y, want["eval_y"], **TOL):
            ok = all(
                tensors_close(getattr(got, key), want[key], **TOL)
                for key in ("running_mean_after_eval", "running_var_after_eval")
            )
            expect(
                ok,
                expected="running statistics unchanged by an eval-mode forward pass",
                got="they changed",
                hint="only update the running statistics in training mode.",
            )
            continue
        eps = CONFIGS[config].get("eps", 1e-5)
        last = got.steps[-1] if got.steps else None
        own = (
            _normalised(
                data["eval_x"],
                last.running_mean,
                last.running_var,
                data["weight"],
                data["bias"],
                eps,
            )
            if last is not None
            else None
        )
        batch = data["eval_x"].double()
        batch_stats = _normalised(
            batch, batch.mean(0), batch.var(0, unbiased=False), data["weight"], data["bias"], eps
        )
        if own is not None and tensors_close(got.eval_y, own, **TOL):
            cause, hint = (
                RUNNING,
                (
                    "eval mode does use your running statistics, as it should, but they differ "
                    "from nn.BatchNorm1d's: see the running-statistics check."
                ),
            )
        elif tensors_close(got.eval_y, batch_stats, **TOL):
            cause, hint = (
                None,
                (
                    "eval mode still normalises with the batch's own statistics: when not "
                    "self.training, use running_mean and running_var."
                ),
            )
        else:
            cause, hint = (
                None,
                (
                    "in eval mode, normalise with running_mean and running_var (eps inside the "
                    "square root), then scale by weight and shift by bias."
                ),
            )
        raise CheckFailed(
            expected=f"eval-mode output equal to nn.BatchNorm1d's ({config} eps/momentum)",
            got=max_abs_diff(got.eval_y, want["eval_y"]),
            hint=hint,
            cause=cause,
        )


@points(2)
def check_parameters_and_buffers(probe):
    """bonus: parameters and buffers named and initialised like nn.BatchNorm1d's"""
    got, _ = _train_mode_works(probe, "default")  # no credit for names alone
    params, buffers = got.params, got.buffers
    want = {"weight": torch.ones(C), "bias": torch.zeros(C)}
    expect(
        set(params) == set(want)
        and all(
            params[k].shape == v.shape and torch.equal(params[k].double(), v.double())
            for k, v in want.items()
        ),
        expected="learnable parameters weight = ones(C) and bias = zeros(C), and nothing else",
        got=f"parameters {sorted(params)}",
        hint="self.weight = nn.Parameter(torch.ones(num_features)), likewise bias with zeros.",
    )
    want_buffers = {"running_mean": torch.zeros(C), "running_var": torch.ones(C)}
    expect(
        all(
            k in buffers
            and buffers[k].shape == v.shape
            and torch.equal(buffers[k].double(), v.double())
            for k, v in want_buffers.items()
        ),
        expected="buffers running_mean = zeros(C) and running_var = ones(C)",
        got=f"buffers {sorted(buffers)}",
        hint="use self.register_buffer('running_mean', torch.zeros(num_features)) so that "
        "state_dict() and .to() include them.",
    )
