"""Public sanity tests: run them with `pytest tests` (or `pytest tests -k clip_gradients`).

Each test checks one property of one function on a small example and, when it fails, says what
to look at. In a notebook, `check("add_batchnorm")` runs the tests of one function. The hidden
checks that grade your work test more (other models and inputs, the whole training protocol,
accuracy on held-out data), so passing these is necessary, not sufficient.
"""

import math
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.data import DataLoader, TensorDataset

# ---- add_batchnorm --------------------------------------------------------------------------


def small_mlp() -> nn.Sequential:
    """Three Linear layers (two hidden), with a Dropout that must be kept."""
    torch.manual_seed(7)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(20, 16),
        nn.Tanh(),
        nn.Dropout(0.1),
        nn.Linear(16, 8),
        nn.Tanh(),
        nn.Linear(8, 4),
    )


def small_cnn() -> nn.Sequential:
    """Two hidden Conv2d layers (in_channels != out_channels), then a Linear output layer."""
    torch.manual_seed(8)
    return nn.Sequential(
        nn.Conv2d(3, 5, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(5, 7, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(7, 4),
    )


def layer_names(model: nn.Module) -> list[str]:
    return [type(layer).__name__ for layer in model]


def test_add_batchnorm_mlp_placement(ex):
    new = ex.add_batchnorm(small_mlp())
    assert isinstance(new, nn.Sequential), "return an nn.Sequential"
    want = ["Flatten", "Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d"]
    want += ["Tanh", "Linear"]
    assert layer_names(new) == want, (
        f"got {layer_names(new)}: a BatchNorm1d goes right after each hidden Linear (before its "
        "activation), none after the last Linear, and every other layer stays, in order"
    )
    assert [new[2].num_features, new[6].num_features] == [16, 8], (
        "BatchNorm1d(n) takes the out_features of the Linear before it"
    )


def test_add_batchnorm_cnn_placement(ex):
    new = ex.add_batchnorm(small_cnn())
    want = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU"]
    want += ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert layer_names(new) == want, (
        f"got {layer_names(new)}: a hidden Conv2d gets a BatchNorm2d (not 1d) right after it; "
        "a Conv2d followed by a Linear is hidden too"
    )
    assert [new[1].num_features, new[5].num_features] == [5, 7], (
        "BatchNorm2d(c) takes the out_channels of the Conv2d before it"
    )
    assert new(torch.randn(4, 3, 8, 8)).shape == (4, 4)


def test_add_batchnorm_uses_default_settings(ex):
    new = ex.add_batchnorm(small_mlp())
    norms = [m for m in new if isinstance(m, nn.BatchNorm1d)]
    assert norms, "no BatchNorm1d in the result"
    for bn in norms:
        default = nn.BatchNorm1d(bn.num_features)
        settings = ("eps", "momentum", "affine", "track_running_stats")
        got = {name: getattr(bn, name) for name in settings}
        assert got == {name: getattr(default, name) for name in settings}, (
            f"got {got}: create the layer as nn.BatchNorm1d(n), with no other arguments"
        )
        assert torch.equal(bn.weight, torch.ones(bn.num_features)), "use a fresh BatchNorm layer"
        assert torch.equal(bn.running_var, torch.ones(bn.num_features))


def test_add_batchnorm_leaves_the_input_model_alone(ex):
    model = small_mlp()
    names_before = layer_names(model)
    weights_before = [p.detach().clone() for p in model.parameters()]
    new = ex.add_batchnorm(model)
    assert new is not model, "return a new nn.Sequential, not the model you were given"
    assert layer_names(model) == names_before, (
        "the model you were given changed: build a list of layers for the new model instead of "
        "inserting into the old one"
    )
    for p, before in zip(model.parameters(), weights_before, strict=True):
        assert torch.equal(p, before), "the weights of the model you were given changed"


def test_add_batchnorm_copies_the_layers(ex):
    model = small_mlp()
    new = ex.add_batchnorm(model)
    old_linears = [m for m in model if isinstance(m, nn.Linear)]
    new_linears = [m for m in new if isinstance(m, nn.Linear)]
    assert len(new_linears) == len(old_linears)
    for old, copy in zip(old_linears, new_linears, strict=True):
        assert torch.equal(old.weight, copy.weight), (
            "a Linear of the new model has other weights: copy the layers, do not create new ones"
        )
        assert copy is not old, (
            "the new model holds the same layer objects as the old one, so training one trains "
            "both: copy each layer (copy.deepcopy)"
        )


def test_add_batchnorm_model_runs_in_train_and_eval_mode(ex):
    new = ex.add_batchnorm(small_mlp())
    x = torch.randn(6, 20)
    assert new.train()(x).shape == (6, 4)
    assert new.eval()(x).shape == (6, 4)


# ---- compute_grad_norm ----------------------------------------------------------------------


def model_with_grads(scale: float = 1.0, seed: int = 3) -> nn.Sequential:
    """A small model whose gradients are set by hand (some entries negative)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    for p in model.parameters():
        p.grad = scale * torch.randn_like(p)
    return model


def concatenated_grads(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_compute_grad_norm_two_norm(ex):
    model = model_with_grads()
    want = concatenated_grads(model).norm(2).item()
    got = ex.compute_grad_norm(model)
    assert isinstance(got, float), f"return a Python float (.item()), not {type(got).__name__}"
    assert math.isclose(got, want, rel_tol=1e-5), (
        f"got {got:.5f}, want {want:.5f}: the norm of ALL gradients as one vector (not the sum "
        "of the per-parameter norms)"
    )


@pytest.mark.parametrize("p", [1.0, 3.0, math.inf], ids=["p=1", "p=3", "p=inf"])
def test_compute_grad_norm_other_norm_types(ex, p):
    model = model_with_grads(seed=4)
    want = torch.linalg.vector_norm(concatenated_grads(model), ord=p).item()
    got = ex.compute_grad_norm(model, norm_type=p)
    assert math.isclose(got, want, rel_tol=1e-5), (
        f"norm_type={p}: got {got:.5f}, want {want:.5f}. Use norm_type (the inf norm is the "
        "largest |entry|; a p-norm takes the p-th root of the sum of |g|^p)"
    )


def test_compute_grad_norm_skips_missing_gradients(ex):
    model = model_with_grads(seed=5)
    model[0].bias.grad = None  # e.g. a frozen parameter
    want = concatenated_grads(model).norm(2).item()
    got = ex.compute_grad_norm(model)
    assert math.isclose(got, want, rel_tol=1e-5), "skip parameters whose .grad is None"


def test_compute_grad_norm_without_gradients_is_zero(ex):
    got = ex.compute_grad_norm(nn.Linear(3, 2))
    assert got == 0.0 and isinstance(got, float), f"no gradients at all: return 0.0, got {got!r}"


def test_compute_grad_norm_leaves_gradients_unchanged(ex):
    model = model_with_grads(seed=6)
    before = [p.grad.clone() for p in model.parameters()]
    ex.compute_grad_norm(model, norm_type=1.0)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.grad, b), (
            "measuring changed the gradients: use out-of-place operations (abs(), not abs_())"
        )


# ---- clip_gradients -------------------------------------------------------------------------


def test_clip_gradients_bounds_the_norm_and_returns_it_before(ex):
    model = model_with_grads(scale=4.0, seed=9)
    before = concatenated_grads(model).norm(2).item()
    returned = ex.clip_gradients(model, max_norm=0.5)
    assert isinstance(returned, float), f"return a Python float, not {type(returned).__name__}"
    assert math.isclose(returned, before, rel_tol=1e-5), (
        f"returned {returned:.4f}, the norm before clipping was {before:.4f}: return the norm "
        "measured BEFORE clipping"
    )
    after = concatenated_grads(model).norm(2).item()
    assert after <= 0.5 * (1 + 1e-4), f"the total norm after clipping is {after:.4f} > 0.5"


def test_clip_gradients_scales_all_gradients_by_one_factor(ex):
    model = model_with_grads(scale=4.0, seed=10)
    before = concatenated_grads(model)
    total = before.norm(2).item()
    ex.clip_gradients(model, max_norm=0.5)
    ratios = concatenated_grads(model) / before  # (P,) one ratio per gradient entry
    want = 0.5 / total
    assert torch.allclose(ratios, torch.full_like(ratios, want), rtol=1e-3), (
        f"the gradients were multiplied by factors from {ratios.min().item():.4f} to "
        f"{ratios.max().item():.4f}; expected one common factor max_norm / total = {want:.4f} "
        "(not per tensor, not clamping values)"
    )


def test_clip_gradients_never_scales_up(ex):
    model = model_with_grads(scale=0.05, seed=11)
    before = [p.grad.clone() for p in model.parameters()]
    ex.clip_gradients(model, max_norm=5.0)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.grad, b), (
            "the total norm was below max_norm, yet the gradients changed: only shrink them"
        )


def test_clip_gradients_changes_gradients_only(ex):
    model = model_with_grads(scale=4.0, seed=12)
    weights = [p.detach().clone() for p in model.parameters()]
    ex.clip_gradients(model, max_norm=0.5)
    for p, w in zip(model.parameters(), weights, strict=True):
        assert torch.equal(p.detach(), w), "the parameters changed: scale p.grad, not p"


@pytest.mark.parametrize("p", [1.0, math.inf], ids=["p=1", "p=inf"])
def test_clip_gradients_other_norm_types(ex, p):
    model = model_with_grads(scale=4.0, seed=13)
    before = concatenated_grads(model)
    total = torch.linalg.vector_norm(before, ord=p).item()
    returned = ex.clip_gradients(model, max_norm=0.5, norm_type=p)
    assert math.isclose(returned, total, rel_tol=1e-5), (
        f"norm_type={p}: returned {returned:.4f}, the {p}-norm before clipping is {total:.4f}"
    )
    after = torch.linalg.vector_norm(concatenated_grads(model), ord=p).item()
    assert math.isclose(after, 0.5, rel_tol=1e-3), (
        f"norm_type={p}: the {p}-norm after clipping is {after:.4f}, not 0.5: measure and clip "
        "with the norm_type you were given"
    )


# ---- compare_runs ---------------------------------------------------------------------------

RUNS = "baseline", "regularized"  # in the order compare_runs trains them
EPOCHS, LR, MAX_NORM, SEED = 2, 0.05, 0.2, 3
TRAIN_SIZE, TRAIN_BATCH, VAL_SIZE, VAL_BATCH = 70, 16, 27, 9  # the last training batch has 6


@dataclass
class Forward:
    """One forward pass through a Recorder."""

    training: bool
    grad_enabled: bool
    x: torch.Tensor  # the Recorder's input
    grad_was_left_over: bool | None = None  # at backward: the scale's .grad was not zero


class Recorder(nn.Module):
    """Passes its input on and notes every forward pass. With ``learnable``, it multiplies by a
    scale parameter (1 at first) and also notes, during backward, whether the scale's gradient
    was zeroed since the previous step."""

    def __init__(self, learnable: bool = False) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1)) if learnable else None
        self.calls: list[Forward] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        call = Forward(self.training, torch.is_grad_enabled(), x.detach().clone())
        self.calls.append(call)
        if self.scale is None:
            return x
        out = x * self.scale
        if out.requires_grad:
            # runs during backward, before the scale's new gradient is added to .grad
            out.register_hook(lambda grad: self._note_grad(call))
        return out

    def _note_grad(self, call: Forward) -> None:
        call.grad_was_left_over = self.scale.grad is not None and bool(self.scale.grad.any())


def recorded_model() -> nn.Sequential:
    """A small MLP between two Recorders: the first sees the inputs, the last the logits."""
    return nn.Sequential(
        Recorder(learnable=True),
        nn.Linear(5, 12),
        nn.ReLU(),
        nn.Linear(12, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
        Recorder(),
    )


def labels_of(x: torch.Tensor) -> torch.Tensor:
    """The class of each sample: how many of its first two features are positive (0, 1, 2)."""
    return (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


@dataclass
class Step:
    """One optimizer.step(), seen just before it ran."""

    optimizer: str
    lr: float
    momentum: float | None
    grad_norm: float  # total 2-norm of the gradients the step uses
    weights: list[torch.Tensor]  # 2-D parameters (Linear weights) before the step


@dataclass
class SmokeRun:
    """compare_runs on tiny synthetic data, with what happened inside."""

    histories: dict
    steps: list[Step] = field(default_factory=list)
    train_batches: int = 0

    def recorders(self, run: str) -> list[Recorder]:
        return [m for m in self.histories[run]["model"].modules() if isinstance(m, Recorder)]

    def run_steps(self, run: str) -> list[Step]:
        n = EPOCHS * self.train_batches
        return self.steps[:n] if run == "baseline" else self.steps[n:]


@pytest.fixture(scope="module")
def smoke(ex) -> SmokeRun:
    g = torch.Generator().manual_seed(21)
    x = torch.randn(TRAIN_SIZE + VAL_SIZE, 5, generator=g)
    y = labels_of(x)
    train = DataLoader(TensorDataset(x[:TRAIN_SIZE], y[:TRAIN_SIZE]), TRAIN_BATCH, shuffle=True)
    val = DataLoader(TensorDataset(x[TRAIN_SIZE:], y[TRAIN_SIZE:]), VAL_BATCH)
    run = SmokeRun(histories={}, train_batches=len(train))

    def before_step(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [p.grad.flatten() for p in params if p.grad is not None]
        group = optimizer.param_groups[0]
        run.steps.append(
            Step(
                optimizer=type(optimizer).__name__,
                lr=group["lr"],
                momentum=group.get("momentum"),
                grad_norm=torch.cat(grads).norm(2).item() if grads else 0.0,
                weights=[p.detach().clone() for p in params if p.dim() == 2],
            )
        )

    handle = register_optimizer_step_pre_hook(before_step)
    try:
        run.histories = ex.compare_runs(
            recorded_model, train, val, epochs=EPOCHS, lr=LR, max_norm=MAX_NORM, seed=SEED
        )
    finally:
        handle.remove()
    return run


def test_compare_runs_returns_the_histories(smoke):
    assert set(smoke.histories) == set(RUNS), "two runs, with these names"
    for name, h in smoke.histories.items():
        for key in ("train_loss", "val_loss", "val_acc"):
            assert len(h[key]) == EPOCHS, f"{name}: {key} needs one value per epoch"
            assert all(isinstance(v, float) for v in h[key]), f"{name}: {key} holds floats"
        assert len(h["grad_norm"]) == EPOCHS * smoke.train_batches, (
            f"{name}: grad_norm needs one value per training step (batch), "
            f"{EPOCHS} x {smoke.train_batches}"
        )
        assert all(0.0 <= a <= 1.0 for a in h["val_acc"]), (
            f"{name}: val_acc is a fraction in [0, 1], got {h['val_acc']}"
        )
        assert isinstance(h["model"], nn.Module), f"{name}: 'model' is the trained model"
    regularized = smoke.histories["regularized"]["model"]
    assert any(isinstance(m, nn.BatchNorm1d) for m in regularized.modules()), (
        "the regularized model has no BatchNorm1d: build it with add_batchnorm(make_model())"
    )


def test_compare_runs_trains_and_validates_in_the_right_mode(smoke):
    for name in RUNS:
        calls = smoke.recorders(name)[0].calls
        val_calls = [c for c in calls if len(c.x) == VAL_BATCH]
        train_calls = [c for c in calls if len(c.x) != VAL_BATCH]
        assert len(val_calls) == EPOCHS * (VAL_SIZE // VAL_BATCH), (
            f"{name}: expected one pass over val_loader per epoch; validate on val_loader"
        )
        assert not any(c.training for c in val_calls), (
            f"{name}: validation ran in train mode: call model.eval() before validating"
        )
        assert not any(c.grad_enabled for c in val_calls), (
            f"{name}: validation tracked gradients: validate under torch.no_grad()"
        )
        assert all(c.training for c in train_calls), (
            f"{name}: a training step ran in eval mode: call model.train() at the start of "
            "every epoch (validation switched it to eval)"
        )


def test_compare_runs_zeroes_the_gradients_every_step(smoke):
    for name in RUNS:
        calls = [c for c in smoke.recorders(name)[0].calls if c.training]
        assert calls and all(c.grad_was_left_over is not None for c in calls), (
            f"{name}: a training forward pass had no backward pass"
        )
        assert not any(c.grad_was_left_over for c in calls), (
            f"{name}: backward() added to the gradients of the previous step: call "
            "optimizer.zero_grad() in every step, before backward()"
        )


def test_compare_runs_uses_sgd_with_momentum_and_lr(smoke):
    for step in smoke.steps:
        assert step.optimizer == "SGD", f"train with torch.optim.SGD, not {step.optimizer}"
        assert math.isclose(step.lr, LR), f"the learning rate was {step.lr}, not lr={LR}"
        assert step.momentum == 0.9, f"momentum was {step.momentum}, not 0.9"
    assert len(smoke.steps) == 2 * EPOCHS * smoke.train_batches, (
        f"expected {2 * EPOCHS * smoke.train_batches} optimizer steps (2 runs x {EPOCHS} epochs "
        f"x {smoke.train_batches} batches), saw {len(smoke.steps)}"
    )


def test_compare_runs_clips_only_the_regularized_run(smoke):
    for name in RUNS:
        recorded = smoke.histories[name]["grad_norm"]
        used = [s.grad_norm for s in smoke.run_steps(name)]
        assert len(used) == len(recorded)
        for step, (norm, at_step) in enumerate(zip(recorded, used, strict=True)):
            want = norm if name == "baseline" else min(norm, MAX_NORM)
            assert math.isclose(at_step, want, rel_tol=1e-3, abs_tol=1e-6), (
                f"{name}, step {step}: the step used gradients of norm {at_step:.4f}, the "
                f"recorded norm is {norm:.4f} and max_norm={MAX_NORM}. Record the norm before "
                "clipping; clip (regularized run only) after backward() and before step()"
            )
    reg = smoke.histories["regularized"]["grad_norm"]
    assert max(reg) > MAX_NORM, (
        "every recorded norm of the regularized run is below max_norm: record the norm BEFORE "
        "clipping"
    )


def test_compare_runs_starts_both_runs_alike(smoke):
    base, reg = smoke.run_steps("baseline"), smoke.run_steps("regularized")
    for w_base, w_reg in zip(base[0].weights, reg[0].weights, strict=True):
        assert torch.equal(w_base, w_reg), (
            "the two runs start from different weights: call torch.manual_seed(seed) right "
            "before building EACH model"
        )
    base_x, reg_x = ([c.x for c in smoke.recorders(run)[0].calls if c.training] for run in RUNS)
    assert all(torch.equal(a, b) for a, b in zip(base_x, reg_x, strict=True)), (
        "the two runs saw the training batches in different orders: seed before each run"
    )


def test_compare_runs_train_loss_is_a_mean_over_samples(smoke):
    for name in RUNS:
        first, last = smoke.recorders(name)
        inputs = [c.x for c in first.calls if c.training]
        logits = [c.x for c in last.calls if c.training]
        per_epoch = smoke.train_batches
        for epoch in range(EPOCHS):
            batch_range = range(epoch * per_epoch, (epoch + 1) * per_epoch)
            total = sum(
                F.cross_entropy(logits[i], labels_of(inputs[i]), reduction="sum").item()
                for i in batch_range
            )
            want = total / TRAIN_SIZE
            got = smoke.histories[name]["train_loss"][epoch]
            assert math.isclose(got, want, rel_tol=1e-4), (
                f"{name}, epoch {epoch + 1}: train_loss is {got:.5f}, the mean loss over the "
                f"epoch's {TRAIN_SIZE} samples is {want:.5f}. The last batch has "
                f"{TRAIN_SIZE % TRAIN_BATCH} samples: weight each batch's mean loss by its size"
            )


# ---- bonus: ManualBatchNorm1d ---------------------------------------------------------------


@pytest.fixture
def manual_and_builtin(ex):
    try:
        mine = ex.ManualBatchNorm1d(4, eps=1e-3, momentum=0.2)
    except NotImplementedError:
        pytest.skip("bonus not attempted")
    return mine, nn.BatchNorm1d(4, eps=1e-3, momentum=0.2)


def batches() -> list[torch.Tensor]:
    """Three batches of different sizes; the last feature varies very little (eps matters)."""
    g = torch.Generator().manual_seed(17)
    scale = torch.tensor([2.0, 0.5, 1.0, 0.01])
    return [scale * torch.randn(n, 4, generator=g) + 1.5 for n in (8, 5, 12)]


def test_manual_batchnorm_matches_pytorch_in_train_mode(manual_and_builtin, monkeypatch):
    mine, builtin = manual_and_builtin
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in mine.modules()), (
        "ManualBatchNorm1d must not contain an nn.BatchNorm layer"
    )
    for step, x in enumerate(batches(), start=1):
        want = builtin(x)
        with monkeypatch.context() as m:
            m.setattr(F, "batch_norm", _forbidden)
            got = mine(x)
        assert torch.allclose(got, want, atol=1e-4), (
            f"batch {step}: the output differs from nn.BatchNorm1d's (normalise with the biased "
            "batch variance: x_hat = (x - mean) / sqrt(var + eps))"
        )
        for name in ("running_mean", "running_var"):
            assert torch.allclose(getattr(mine, name), getattr(builtin, name), atol=1e-5), (
                f"after batch {step}: {name} differs from nn.BatchNorm1d's (running = (1 - "
                "momentum) * running + momentum * batch statistic; the UNBIASED variance for "
                "running_var)"
            )
            assert not getattr(mine, name).requires_grad, (
                f"{name} is part of the autograd graph: update it under torch.no_grad()"
            )


def test_manual_batchnorm_matches_pytorch_in_eval_mode(manual_and_builtin):
    mine, builtin = manual_and_builtin
    for x in batches()[:2]:
        mine(x)
        builtin(x)
    mine.eval()
    builtin.eval()
    x = batches()[2]
    assert torch.allclose(mine(x), builtin(x), atol=1e-4), (
        "in eval mode normalise with running_mean and running_var, not the batch's statistics"
    )
    assert torch.allclose(mine.running_mean, builtin.running_mean), (
        "eval mode must not update the running statistics"
    )


def test_manual_batchnorm_gradients_match_pytorch(manual_and_builtin):
    mine, builtin = manual_and_builtin
    weights = torch.arange(1.0, 5.0)  # an arbitrary loss: sum of weighted squares
    for step, x in enumerate(batches()[:2], start=1):  # two training steps, as in a real loop
        x_mine, x_builtin = x.clone().requires_grad_(), x.clone().requires_grad_()
        ((mine(x_mine) ** 2) * weights).sum().backward()
        ((builtin(x_builtin) ** 2) * weights).sum().backward()
        assert torch.allclose(x_mine.grad, x_builtin.grad, atol=1e-3), (
            f"step {step}: the gradient with respect to the input differs: compute the output "
            "from x with tensor operations (no .detach(), no in-place changes of x)"
        )
        assert torch.allclose(mine.weight.grad, builtin.weight.grad, atol=1e-3)
        assert torch.allclose(mine.bias.grad, builtin.bias.grad, atol=1e-3)
        for name in ("running_mean", "running_var"):
            assert getattr(mine, name).grad_fn is None, (
                f"{name} kept the autograd history of the batch: update the running statistics "
                "under torch.no_grad()"
            )


def _forbidden(*args, **kwargs):
    raise AssertionError("ManualBatchNorm1d must not call F.batch_norm: write it from tensor ops")
