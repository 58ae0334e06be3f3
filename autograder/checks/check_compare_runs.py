"""Section 4: compare_runs, observed from outside through an instrumented run on small data."""

from __future__ import annotations

import math

import torch

from autograder.feedback import CheckFailed, expect, fmt, is_close
from autograder.markers import points, tag
from autograder.sandbox import modelspec

pytestmark = tag("compare_runs")

EPOCHS, LR, MAX_NORM, SEED, BATCH = 2, 0.1, 0.5, 7, 32
LAYERS = modelspec.mlp([10, 16, 16, 3])
KEYS = ("train_loss", "val_loss", "val_acc", "grad_norm")
RUNS = ("baseline", "regularized")


def _data() -> dict[str, torch.Tensor]:
    """150 training samples (batches of 32, the last one of 22) and 100 validation samples."""
    g = torch.Generator().manual_seed(2024)
    teacher = torch.randn(10, 3, generator=g)
    x = 3.0 * torch.randn(250, 10, generator=g)
    y = (x @ teacher + 0.5 * torch.randn(250, 3, generator=g)).argmax(dim=1)
    return {"train_x": x[:150], "train_y": y[:150], "val_x": x[150:], "val_y": y[150:]}


N_TRAIN_BATCHES = math.ceil(150 / BATCH)


def run(probe) -> dict:
    return probe(
        "compare_runs_protocol",
        key="main",
        layers=LAYERS,
        batch_size=BATCH,
        epochs=EPOCHS,
        lr=LR,
        max_norm=MAX_NORM,
        seed=SEED,
        **_data(),
    )


def _history(obs: dict, name: str) -> dict:
    h = (obs["result"].get("runs") or {}).get(name)
    if not isinstance(h, dict):
        raise CheckFailed(
            expected=f'a dict with the keys "baseline" and "regularized"; {name!r} a dict',
            got=f"a {obs['result']['type']} without a {name!r} history",
            hint='return {"baseline": {...}, "regularized": {...}}.',
        )
    return h


def _steps(obs: dict, run_index: int) -> list[dict]:
    return [s for s in obs["steps"] if s["run"] == run_index]


@points(4)
def check_history_structure(probe):
    """compare_runs: both histories have the right keys, lengths and value ranges"""
    obs = run(probe)
    lengths = {
        "train_loss": EPOCHS,
        "val_loss": EPOCHS,
        "val_acc": EPOCHS,
        "grad_norm": EPOCHS * N_TRAIN_BATCHES,
    }
    for name in RUNS:
        h = _history(obs, name)
        missing = [k for k in ("model", *KEYS) if k not in h["keys"]]
        expect(
            not missing,
            expected=f"history {name!r} with keys model, " + ", ".join(KEYS),
            got="missing: " + ", ".join(missing),
            hint="see the Returns section of the docstring.",
        )
        for key, n in lengths.items():
            values = h.get(key)
            expect(
                isinstance(values, list) and len(values) == n,
                expected=f"{name}[{key!r}]: a list of {n} numbers "
                f"({EPOCHS} epochs, {N_TRAIN_BATCHES} batches per epoch)",
                got=f"a {h.get(f'{key}_type')} of length {len(values) if values else 0}",
                hint="one train_loss/val_loss/val_acc per epoch; one grad_norm per optimizer step.",
            )
            bad = [v for v in values if v is None or not math.isfinite(v)]
            expect(
                not bad,
                expected=f"{name}[{key!r}] made of finite Python floats",
                got=f"{len(bad)} entries that are not finite numbers: {fmt(bad)}",
                hint="record loss.item() (a float), not tensors; check for divisions by zero.",
            )
        accs = h["val_acc"]
        expect(
            all(0.0 <= a <= 1.0 for a in accs),
            expected="val_acc as fractions in [0, 1]",
            got=fmt(accs),
            hint="divide the number of correct predictions by the number of samples (not %).",
        )
        expect(
            h["model"]["class"] != "builtins.NoneType" and h["model"]["layers"],
            expected=f"{name}['model']: the trained nn.Module",
            got=f"a {h['model']['class']}",
            hint="store the model you trained in the history.",
        )


@points(4)
def check_same_start_and_data_order(probe):
    """compare_runs: both runs start from the same seeded weights and see the same data order"""
    obs = run(probe)
    created = obs["created"]
    expect(
        len(created) == 2,
        expected="make_model() called exactly twice (once per run)",
        got=f"{len(created)} call(s)",
        hint="call make_model() once for the baseline and once for the regularized run.",
    )
    torch.manual_seed(SEED)
    want = modelspec.build_model(LAYERS).state_dict()
    for i, name in enumerate(RUNS):
        same = all(torch.equal(created[i][k], v) for k, v in want.items())
        expect(
            same,
            expected=f"the {name} model built right after torch.manual_seed(seed) (seed={SEED})",
            got="different initial weights",
            hint="call torch.manual_seed(seed) (the seed argument, not a constant) immediately "
            "before make_model() in each run.",
        )
    orders = {
        i: [p["order"] for p in obs["passes"] if p["loader"] == "train" and p["run"] == i]
        for i in (0, 1)
    }
    expect(
        len(orders[0]) == EPOCHS and len(orders[1]) == EPOCHS,
        expected=f"train_loader iterated once per epoch in each run ({EPOCHS} times)",
        got=f"{len(orders[0])} time(s) in the baseline run, {len(orders[1])} in the "
        "regularized run",
        hint="iterate train_loader exactly once per epoch.",
    )
    expect(
        orders[0] == orders[1],
        expected="the same shuffled order of training samples in both runs, epoch by epoch",
        got="the two runs saw the data in different orders",
        hint="seed right before building each model and draw no other random numbers in "
        "between (the loader shuffles with torch's global random state).",
    )
    calls = obs["bn_calls"]
    regularized_forwards = [f for f in obs["forwards"] if f["run"] == 1 and f["phase"] == "train"]
    baseline_forwards = [f for f in obs["forwards"] if f["run"] == 0 and f["phase"] == "train"]
    expect(
        len(calls) == 1
        and calls[0]["run"] == 1
        and calls[0]["arg_is_latest_model"]
        and regularized_forwards
        and all(f["is_bn_model"] for f in regularized_forwards)
        and not any(f["is_bn_model"] for f in baseline_forwards),
        expected="baseline: make_model(); regularized: add_batchnorm(make_model()), trained as "
        "returned; in that order",
        got=f"add_batchnorm called {len(calls)} time(s)"
        + ("" if len(calls) != 1 else f" (in run {calls[0]['run'] + 1} of 2)"),
        hint="run the baseline first, then build the regularized model with "
        "add_batchnorm(make_model()) and train that model.",
    )


@points(4)
def check_gradients_zeroed_each_step(probe):
    """compare_runs: SGD(lr, momentum=0.9); zeroed gradients, so step() sees one batch's gradient"""
    obs = run(probe)
    for i, name in enumerate(RUNS):
        steps = _steps(obs, i)
        expect(
            len(steps) == EPOCHS * N_TRAIN_BATCHES,
            expected=f"{EPOCHS * N_TRAIN_BATCHES} optimizer steps in the {name} run",
            got=f"{len(steps)}",
            hint="call optimizer.step() once per training batch.",
        )
        for s in steps[:1]:
            expect(
                s["optimizer"] == "SGD"
                and is_close(s["lr"], LR, rtol=1e-9)
                and is_close(s["momentum"], 0.9, rtol=1e-9),
                expected=f"torch.optim.SGD with lr={LR} and momentum=0.9",
                got=f"{s['optimizer']} with lr={s['lr']}, momentum={s['momentum']}",
                hint="torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9).",
            )
            expect(
                s.get("optimizer_has_model_params", False),
                expected="the optimizer to hold the parameters of the model being trained",
                got="it holds other parameters",
                hint="create the optimizer from model.parameters() after building the run's model.",
            )
    for s in _steps(obs, 0):
        fresh, step = s.get("fresh_norm"), s.get("step_norm")
        if fresh is None or step is None:
            continue
        ok = (
            fresh > 0
            and abs(step - fresh) <= 1e-4 * fresh
            and s["dot"] >= (1 - 1e-6) * step * fresh
        )
        expect(
            ok,
            expected="at optimizer.step() (baseline run), exactly the gradient of the current "
            f"batch's mean cross-entropy loss (norm {fresh:.4g})",
            got=f"a gradient of norm {step:.4g} that is not that batch's gradient",
            hint="call optimizer.zero_grad() before every backward pass (gradients accumulate "
            "otherwise), and use F.cross_entropy with its default mean reduction.",
        )


def _pre_clip_values(step: dict, fresh: float) -> list[float]:
    """Numbers that are a correct 'norm before clipping' for this step: the true 2-norm, and
    what the student's own compute_grad_norm / clip_gradients returned on the unclipped gradient
    (their correctness is checked in their own sections)."""
    values = [fresh]
    for call in step.get("norm_calls", []):
        if call["value"] is not None and is_close(call["before_norm"], fresh, rtol=1e-4):
            values.append(call["value"])
    if step.get("clip_value") is not None and is_close(
        step.get("clip_before_norm"), fresh, rtol=1e-4
    ):
        values.append(step["clip_value"])
    return values


def _clipped_correctly(step: dict, fresh: float) -> bool:
    """The gradient at step() is this batch's gradient after clipping to MAX_NORM: either the
    exact result, or exactly what the student's clip_gradients(model, max_norm) left behind
    when called on this batch's gradient."""
    norm, dot = step["step_norm"], step["dot"]
    want = min(fresh, MAX_NORM)
    exact = abs(norm - want) <= 1e-3 * want and dot >= (1 - 1e-6) * norm * fresh
    via_own_clip = (
        step.get("clip_calls") is not None
        and is_close(step.get("clip_before_norm"), fresh, rtol=1e-4)
        and is_close(step.get("clip_max_norm"), MAX_NORM, rtol=1e-9)
        and step["clip_after_diff"] <= 1e-5 * max(fresh, 1e-12)
    )
    return exact or via_own_clip


@points(5)
def check_clipping_and_recorded_norms(probe):
    """compare_runs: pre-clip norms recorded; clipping before step() in the regularized run only"""
    obs = run(probe)
    for i, name in enumerate(RUNS):
        steps, h = _steps(obs, i), _history(obs, name)
        norms = h.get("grad_norm") or []
        for k, (s, recorded) in enumerate(zip(steps, norms, strict=False)):
            fresh = s.get("fresh_norm")
            if fresh is None:
                continue
            candidates = _pre_clip_values(s, fresh)
            expect(
                any(is_close(recorded, c, rtol=1e-4, atol=1e-7) for c in candidates),
                expected=f"{name}['grad_norm'][{k}] = the total 2-norm of that step's gradient "
                f"before clipping ({fresh:.5g})",
                got=fmt(recorded),
                hint="record compute_grad_norm(model) right after loss.backward() and before "
                "clipping (in the regularized run, clip_gradients returns that same number).",
            )
            if i == 0:
                expect(
                    abs(s["step_norm"] - fresh) <= 1e-4 * fresh,
                    expected=f"no clipping in the baseline run (norm {fresh:.4g} at step())",
                    got=f"norm {s['step_norm']:.4g} at step()",
                    hint="clip only in the regularized run.",
                )
            else:
                expect(
                    _clipped_correctly(s, fresh),
                    expected="at step() of the regularized run, the batch's gradient clipped to "
                    f"total norm {MAX_NORM} (norm {min(fresh, MAX_NORM):.4g})",
                    got=f"a gradient of norm {s['step_norm']:.4g}",
                    hint="call clip_gradients(model, max_norm) after backward() and before "
                    "optimizer.step(), in the regularized run only.",
                )
        if i == 1:
            clipped = [s for s in steps if s.get("fresh_norm", 0) > MAX_NORM]
            expect(
                bool(clipped) or not steps,
                expected=f"some steps of the regularized run with gradient norm above {MAX_NORM}",
                got="none: the check cannot see clipping at work",
                hint="make sure the regularized run trains the model returned by add_batchnorm.",
            )


def _pass_totals(obs: dict, run_index: int, loader: str) -> list[tuple[float, int, int]]:
    """(sum of losses, number of correct, number of samples) per pass over ``loader``."""
    passes = [
        k for k, p in enumerate(obs["passes"]) if p["loader"] == loader and p["run"] == run_index
    ]
    totals = []
    for k in passes:
        fw = [
            f for f in obs["forwards"] if f["pass"] == k and f["run"] == run_index and "loss" in f
        ]
        totals.append(
            (sum(f["loss"] for f in fw), sum(f["correct"] for f in fw), sum(f["n"] for f in fw))
        )
    return totals


@points(4)
def check_validation_protocol(probe):
    """compare_runs: validation on val_loader each epoch, in eval mode without gradients"""
    obs = run(probe)
    for i, name in enumerate(RUNS):
        val_forwards = [f for f in obs["forwards"] if f["run"] == i and f["phase"] == "val"]
        expect(
            bool(val_forwards),
            expected=f"the {name} model evaluated on val_loader",
            got="val_loader was never used with the model",
            hint="after each epoch, loop over val_loader and compute loss and accuracy.",
        )
        expect(
            not any(f["training"] for f in val_forwards),
            expected="model.eval() during validation",
            got="the model was in train mode",
            hint="call model.eval() before validating (BatchNorm must use its running "
            "statistics) and model.train() before the next training epoch.",
        )
        expect(
            not any(f["grad_enabled"] for f in val_forwards),
            expected="validation inside torch.no_grad()",
            got="gradients were being recorded",
            hint="wrap the validation loop in `with torch.no_grad():`.",
        )
        train_forwards = [f for f in obs["forwards"] if f["run"] == i and f["phase"] == "train"]
        expect(
            all(f["training"] for f in train_forwards),
            expected="model.train() during training epochs",
            got="some training batches ran in eval mode",
            hint="call model.train() at the start of every epoch (after validating).",
        )
        totals = _pass_totals(obs, i, "val")
        h = _history(obs, name)
        expect(
            len(totals) == EPOCHS,
            expected=f"one validation pass per epoch ({EPOCHS})",
            got=f"{len(totals)}",
            hint="evaluate once after each epoch.",
        )
        for e, (loss_sum, correct, n) in enumerate(totals):
            expect(
                is_close(h["val_loss"][e], loss_sum / n, rtol=1e-4)
                and is_close(h["val_acc"][e], correct / n, rtol=1e-6),
                expected=f"{name} epoch {e + 1}: val_loss {loss_sum / n:.5g} and val_acc "
                f"{correct / n:.4g} (mean per sample over val_loader, from your model's outputs)",
                got=f"val_loss {fmt(h['val_loss'][e])}, val_acc {fmt(h['val_acc'][e])}",
                hint="sum the per-sample losses (reduction='sum') and the correct predictions over "
                "all batches, then divide by the number of samples; batches differ in size.",
            )


@points(3)
def check_train_loss_is_mean_over_samples(probe):
    """compare_runs: train_loss is the mean loss over the epoch's training samples"""
    obs = run(probe)
    for i, name in enumerate(RUNS):
        h = _history(obs, name)
        for e, (loss_sum, _, n) in enumerate(_pass_totals(obs, i, "train")[:EPOCHS]):
            fw = [
                f
                for f in obs["forwards"]
                if f["run"] == i and f["phase"] == "train" and "loss" in f
            ]
            per_epoch = [
                f
                for f in fw
                if f["pass"]
                == [
                    k
                    for k, p in enumerate(obs["passes"])
                    if p["loader"] == "train" and p["run"] == i
                ][e]
            ]
            batch_means = sum(f["loss"] / f["n"] for f in per_epoch) / max(len(per_epoch), 1)
            got = h["train_loss"][e]
            expect(
                is_close(got, loss_sum / n, rtol=1e-4),
                expected=f"{name} epoch {e + 1}: train_loss {loss_sum / n:.5g} (mean over the "
                "epoch's samples of the loss of the outputs your model produced)",
                got=fmt(got),
                hint="the mean of the batch means differs when the last batch is smaller: "
                "accumulate loss.item() * len(y) and divide by the number of samples."
                if is_close(got, batch_means, rtol=1e-4)
                else "accumulate loss.item() * len(y) over the epoch and divide by the number "
                "of samples seen.",
            )
