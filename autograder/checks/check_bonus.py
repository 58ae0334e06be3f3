"""Section 6 (extra credit): ManualBatchNorm1d against nn.BatchNorm1d, computed here in float64."""

from __future__ import annotations

import torch
import torch.nn as nn

from autograder.feedback import CheckFailed, expect, max_abs_diff, tensors_close
from autograder.markers import points, tag

pytestmark = tag("bonus")

C = 5
CONFIGS = {
    "default": {},
    "custom": {"eps": 1e-3, "momentum": 0.3},
}
TOL = {"rtol": 1e-4, "atol": 1e-5}


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


def observed(probe, config: str) -> dict:
    got = probe("manual_batchnorm", key=config, num_features=C, kwargs=CONFIGS[config], **_inputs())
    if got["used_builtin"] or got["builtin_submodules"]:
        raise CheckFailed(
            expected="batch normalisation written with tensor operations only",
            got="it uses " + ", ".join(got["used_builtin"] + got["builtin_submodules"]),
            hint="compute the mean and variance with x.mean(0) and x.var(0, unbiased=False) "
            "yourself; nn.BatchNorm1d and F.batch_norm are not allowed here.",
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
        y.backward(step["grad_out"].double())
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


def _compare(got_steps: list, want_steps: list, keys: tuple[str, ...], config: str, hint: str):
    for k, (g, w) in enumerate(zip(got_steps, want_steps, strict=True)):
        for key in keys:
            expect(
                tensors_close(g[key], w[key], **TOL),
                expected=f"{key} after training step {k + 1} ({config} eps/momentum) equal to "
                "nn.BatchNorm1d's",
                got=max_abs_diff(g[key], w[key]),
                hint=hint,
            )


@points(3)
def check_train_mode_matches(probe):
    """bonus: ManualBatchNorm1d matches nn.BatchNorm1d in train mode (outputs and gradients)"""
    for config in CONFIGS:
        got, want = observed(probe, config), expected(config)
        _compare(
            got["steps"],
            want["steps"],
            ("y", "grad_x", "grad_weight", "grad_bias"),
            config,
            "normalise with the batch mean and the BIASED variance (divide by N), add eps inside "
            "the square root, then scale by weight and shift by bias; let autograd do backward.",
        )


@points(3)
def check_running_statistics(probe):
    """bonus: running statistics follow PyTorch's momentum convention (unbiased variance)"""
    for config in CONFIGS:
        got, want = observed(probe, config), expected(config)
        _compare(
            got["steps"],
            want["steps"],
            ("running_mean", "running_var"),
            config,
            "running = (1 - momentum) * running + momentum * batch_statistic, with the UNBIASED "
            "variance (divide by N - 1) for running_var, updated under torch.no_grad().",
        )


@points(2)
def check_eval_mode(probe):
    """bonus: eval mode normalises with the running statistics and updates nothing"""
    for config in CONFIGS:
        got, want = observed(probe, config), expected(config)
        expect(
            tensors_close(got["eval_y"], want["eval_y"], **TOL),
            expected=f"eval-mode output equal to nn.BatchNorm1d's ({config} eps/momentum)",
            got=max_abs_diff(got["eval_y"], want["eval_y"]),
            hint="when not self.training, use running_mean and running_var instead of batch "
            "statistics.",
        )
        for key in ("running_mean_after_eval", "running_var_after_eval"):
            expect(
                tensors_close(got[key], want[key], **TOL),
                expected="running statistics unchanged by an eval-mode forward pass",
                got=max_abs_diff(got[key], want[key]),
                hint="only update the running statistics in training mode.",
            )


@points(2)
def check_parameters_and_buffers(probe):
    """bonus: parameters and buffers named and initialised like nn.BatchNorm1d's"""
    got = observed(probe, "default")
    params, buffers = got["params"], got["buffers"]
    want = {"weight": torch.ones(C), "bias": torch.zeros(C)}
    expect(
        set(params) == set(want) and all(torch.equal(params[k], v) for k, v in want.items()),
        expected="learnable parameters weight = ones(C) and bias = zeros(C), and nothing else",
        got=f"parameters {sorted(params)}",
        hint="self.weight = nn.Parameter(torch.ones(num_features)), likewise bias with zeros.",
    )
    want_buffers = {"running_mean": torch.zeros(C), "running_var": torch.ones(C)}
    expect(
        all(k in buffers and torch.equal(buffers[k], v) for k, v in want_buffers.items()),
        expected="buffers running_mean = zeros(C) and running_var = ones(C)",
        got=f"buffers {sorted(buffers)}",
        hint="use self.register_buffer('running_mean', torch.zeros(num_features)) so that "
        "state_dict() and .to() include them.",
    )
