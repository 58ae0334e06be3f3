"""Section 4: compare_runs, observed from outside through an instrumented run on small data.

The student process hands compare_runs real ``DataLoader``s and a model factory, and records
what happens (``probes.Recorder``): which model runs forward in which mode, the gradient right
after each backward pass, the gradient each ``optimizer.step()`` uses, the gradient of the
batch alone, and the calls of the helpers. Meanwhile the student's add_batchnorm,
compute_grad_norm and clip_gradients are replaced by correct ones (their mistakes cost points in
their own sections only; the accuracy run uses the student's own). Each check judges one part of
the protocol, and a mistake is told apart from its consequences: accumulated gradients are the
zero_grad check's, clipping in both runs the clipping check's, a model left in eval mode the
validation check's.
"""

from __future__ import annotations

import math

import pytest
import torch

from autograder.grading.checks import training
from autograder.grading.checks.training import (
    BATCH,
    EPOCHS,
    LAYERS,
    LR,
    MAX_NORM,
    N_TRAIN,
    N_VAL,
    SEED,
    protocol_request,
)
from autograder.grading.checks.training import PROTOCOL_KEY as KEY
from autograder.grading.checks.training import PROTOCOL_PROBE as PROBE
from autograder.grading.feedback import Cause, CheckFailed, expect, fmt, is_close
from autograder.grading.markers import points, tag
from autograder.sandbox import modelspec
from autograder.sandbox.replies import History, ProtocolReply, Step

pytestmark = tag("compare_runs")

KEYS = ("train_loss", "val_loss", "val_acc", "grad_norm")
RUNS = ("baseline", "regularized")
N_TRAIN_BATCHES = math.ceil(N_TRAIN / BATCH)
STEPS_PER_RUN = EPOCHS * N_TRAIN_BATCHES

NO_TRAINING = Cause("compare_runs:no-training", "compare_runs did not train both models")
NOT_RETURNED = Cause("compare_runs:return", "compare_runs does not return the two histories")
NOT_OBSERVED = Cause("compare_runs:unobserved", "no forward pass of the model was seen")
ZERO_GRAD_LATE = Cause("compare_runs:zero-grad-late", "zero_grad() runs after backward()")


@pytest.fixture(scope="module", autouse=True)
def _start_runs(request, grading, probe, reference) -> None:
    """Without a trainer, before this section's first check: start the instrumented run, and
    the accuracy training after it if section 5 is to run (``training.start``)."""
    if grading.trainer is None:
        tags = training.selected_tags(request.session)
        training.start(grading, probe, reference, protocol=True, training="accuracy" in tags)


def run(probe, reference) -> ProtocolReply:
    """The instrumented run (started in the trainer, if there is one, before the first check)."""
    return probe(PROBE, key=KEY, lazy_kwargs=lambda: protocol_request(reference))


def _history(obs: ProtocolReply, name: str) -> History:
    h = obs.histories.runs.get(name)
    if h is None:
        raise CheckFailed(
            expected=f'a dict with the keys "baseline" and "regularized"; {name!r} a dict',
            got=f"a {obs.histories.type} without a {name!r} history",
            hint='return {"baseline": {...}, "regularized": {...}}.',
            cause=NOT_RETURNED,
        )
    return h


def _steps(obs: ProtocolReply, run_index: int) -> list[Step]:
    return [s for s in obs.steps if s.run == run_index]


def _trained(obs: ProtocolReply, what: str) -> None:
    """No credit for any part of the protocol unless both models were actually trained."""
    counts = [len(_steps(obs, i)) for i in range(2)]
    if obs.runs_trained >= 2 and all(counts):
        return
    raise CheckFailed(
        expected=f"{what}, in two training runs ({STEPS_PER_RUN} optimizer steps each)",
        got=f"optimizer steps seen: {counts[0]} for the first model, {counts[1]} for a second",
        hint="train both models: for each run build the model, create its SGD optimizer, and "
        "call optimizer.step() once per training batch.",
        cause=NO_TRAINING,
    )


def _values(h: History, key: str) -> list[float | None]:
    return h.lists.get(key, [])


@points(4)
def check_history_structure(probe, reference):
    """compare_runs: both histories have the right keys, lengths and value ranges"""
    obs = run(probe, reference)
    _trained(obs, "histories of real training")
    lengths = {key: EPOCHS for key in KEYS} | {"grad_norm": STEPS_PER_RUN}
    for name in RUNS:
        h = _history(obs, name)
        missing = [k for k in ("model", *KEYS) if k not in h.keys]
        expect(
            not missing,
            expected=f"history {name!r} with keys model, " + ", ".join(KEYS),
            got="missing: " + ", ".join(missing),
            hint="see the Returns section of the docstring.",
        )
        for key, n in lengths.items():
            values = _values(h, key)
            expect(
                len(values) == n,
                expected=f"{name}[{key!r}]: a list of {n} numbers "
                f"({EPOCHS} epochs, {N_TRAIN_BATCHES} batches per epoch)",
                got=f"a {h.list_types.get(key, 'missing value')} of length {len(values)}",
                hint="one train_loss/val_loss/val_acc per epoch; one grad_norm per optimizer step.",
            )
            bad = [v for v in values if v is None or not math.isfinite(v)]
            expect(
                not bad,
                expected=f"{name}[{key!r}] made of finite Python floats",
                got=f"{len(bad)} entries that are not finite numbers: {fmt(bad)}",
                hint="record loss.item() (a float), not tensors; check for divisions by zero.",
            )
        accs = _values(h, "val_acc")
        expect(
            all(0.0 <= a <= 1.0 for a in accs),
            expected="val_acc as fractions in [0, 1]",
            got=fmt(accs),
            hint="divide the number of correct predictions by the number of samples (not %).",
        )
        expect(
            h.model.is_module and h.model_is_trained,
            expected=f"{name}['model']: the nn.Module that run trained",
            got=f"a {h.model.cls}" if not h.model.is_module else "another model object",
            hint="store the model you trained (the object you called optimizer.step() for) in "
            "the history.",
        )


@points(4)
def check_same_start_and_data_order(probe, reference):
    """compare_runs: both runs start from the same seeded weights and see the same data order"""
    obs = run(probe, reference)
    _trained(obs, "two runs from the same start on the same data")
    created = obs.created
    expect(
        len(created) == 2,
        expected="make_model() called exactly twice (once per run)",
        got=f"{len(created)} call(s)",
        hint="call make_model() once for the baseline and once for the regularized run; build "
        "the regularized model from a fresh make_model(), not from the trained baseline.",
    )
    torch.manual_seed(SEED)
    want = modelspec.layer_states(modelspec.build_model(LAYERS))
    for i, name in enumerate(RUNS):
        same = len(created[i]) == len(want) and all(
            set(g) == set(w) and all(torch.equal(g[k], w[k]) for k in w)
            for g, w in zip(created[i], want, strict=True)
        )
        expect(
            same,
            expected=f"the {name} model built right after torch.manual_seed(seed) (seed={SEED})",
            got="different initial weights",
            hint="call torch.manual_seed(seed) (the seed argument, not a constant) immediately "
            "before make_model() in each run.",
        )
    orders = {
        i: [p.order for p in obs.passes if p.loader == "train" and p.run == i] for i in (0, 1)
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
    calls = obs.bn_calls
    train_forwards = [f for f in obs.forwards if f.phase == "train"]
    expect(
        len(calls) == 1
        and calls[0].run == 1
        and calls[0].arg_is_latest_model
        and any(f.run == 1 for f in train_forwards)
        and all(f.is_bn_model for f in train_forwards if f.run == 1)
        and not any(f.is_bn_model for f in train_forwards if f.run == 0),
        expected="baseline: make_model(); regularized: add_batchnorm(make_model()), trained as "
        "returned; in that order",
        got=f"add_batchnorm called {len(calls)} time(s)"
        + ("" if len(calls) != 1 else f", after {calls[0].run} run(s) had started"),
        hint="run the baseline first, then build the regularized model with "
        "add_batchnorm(make_model()) and train that model.",
    )


def _gradient_mistake(step: Step) -> tuple[Cause, str]:
    """Why the gradient after backward() is not this batch's mean-loss gradient."""
    if step.accumulated:
        return (
            Cause("compare_runs:zero-grad", "gradients are never zeroed"),
            "the gradient after backward() is this batch's gradient plus the previous one: "
            "call optimizer.zero_grad() before every backward pass (gradients accumulate).",
        )
    fresh, back, n = step.fresh_norm or 0.0, step.backward_norm or 0.0, step.batch_size or 0
    if n > 1 and fresh > 0 and abs(back / fresh - n) <= 1e-3 * n:
        return (
            Cause("compare_runs:loss-sum", "the training loss is summed over the batch"),
            f"the gradient is {n} times the batch's mean-loss gradient: use the mean "
            "cross-entropy (F.cross_entropy's default), or divide a summed loss by len(y).",
        )
    return (
        Cause("compare_runs:gradient", "the gradient is not the batch's mean-loss gradient"),
        "after zero_grad(), loss = F.cross_entropy(model(x), y); loss.backward() must give the "
        "gradient of this batch alone: call zero_grad() before backward, and backward once.",
    )


@points(4)
def check_gradients_zeroed_each_step(probe, reference):
    """compare_runs: SGD(lr, momentum=0.9); zeroed gradients, so step() sees one batch's gradient"""
    obs = run(probe, reference)
    _trained(obs, "SGD steps on each batch's gradient")
    for i, name in enumerate(RUNS):
        steps = _steps(obs, i)
        expect(
            len(steps) == STEPS_PER_RUN,
            expected=f"{STEPS_PER_RUN} optimizer steps in the {name} run",
            got=f"{len(steps)}",
            hint="call optimizer.step() once per training batch.",
        )
        first = steps[0]
        expect(
            first.optimizer == "SGD"
            and is_close(first.lr, LR, rtol=1e-9)
            and is_close(first.momentum, 0.9, rtol=1e-9),
            expected=f"torch.optim.SGD with lr={LR} and momentum=0.9",
            got=f"{first.optimizer} with lr={first.lr}, momentum={first.momentum}",
            hint="torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), with the lr argument.",
        )
        expect(
            bool(first.has_model_params),
            expected="the optimizer to hold the parameters of the model being trained",
            got="it holds other parameters",
            hint="create the optimizer from model.parameters() after building the run's model.",
        )
        for k, s in enumerate(steps):
            if s.fresh_vs_backward is None:
                continue
            if s.fresh_vs_backward > 1e-4:
                cause, hint = _gradient_mistake(s)
                raise CheckFailed(
                    expected=f"after backward() in step {k + 1} of the {name} run, exactly the "
                    f"gradient of that batch's mean cross-entropy (norm {s.fresh_norm:.4g})",
                    got=f"a gradient of norm {fmt(s.backward_norm)}",
                    hint=hint,
                    cause=cause,
                )
            if (s.backward_norm or 0.0) > 0 and s.step_norm == 0.0:
                raise CheckFailed(
                    expected=f"at optimizer.step() (step {k + 1} of the {name} run) the "
                    "gradient that backward() computed",
                    got="all gradients zero",
                    hint="zero_grad() clears the gradients: call it before loss.backward(), "
                    "not between backward() and optimizer.step().",
                    cause=ZERO_GRAD_LATE,
                )


def _clipped_correctly(step: Step) -> bool:
    """The gradient at step() is the batch's gradient after clipping to MAX_NORM (one common
    factor, direction kept)."""
    back, norm = step.backward_norm or 0.0, step.step_norm or 0.0
    want = min(back, MAX_NORM)
    return abs(norm - want) <= 1e-3 * max(want, 1e-12) and (step.step_cosine or 0.0) >= 1 - 1e-6


def _clip_max_norms(step: Step) -> list[float | None]:
    return [c.max_norm for c in step.helper_calls if c.fn == "clip_gradients"]


@points(5)
def check_clipping_and_recorded_norms(probe, reference):
    """compare_runs: pre-clip norms recorded; clipping before step() in the regularized run only"""
    obs = run(probe, reference)
    _trained(obs, "recorded norms and clipping")
    for i, name in enumerate(RUNS):
        steps, h = _steps(obs, i), _history(obs, name)
        norms = _values(h, "grad_norm")
        for k, (s, recorded) in enumerate(zip(steps, norms, strict=False)):
            if s.backward_norm is None or s.step_norm is None:
                continue
            if not is_close(recorded, s.backward_norm, rtol=1e-4, atol=1e-7):
                after_clip = (
                    i == 1
                    and is_close(recorded, s.step_norm, rtol=1e-4)
                    and not (is_close(s.step_norm, s.backward_norm, rtol=1e-4))
                )
                raise CheckFailed(
                    expected=f"{name}['grad_norm'][{k}] = the total 2-norm of that step's "
                    f"gradient before clipping ({s.backward_norm:.5g})",
                    got=fmt(recorded),
                    hint="you recorded the norm after clipping: record it right after "
                    "loss.backward(), before clip_gradients (which returns that same number)."
                    if after_clip
                    else "record compute_grad_norm(model) right after loss.backward(), once per "
                    "step, before clipping.",
                    cause=Cause("compare_runs:recorded", "the recorded norms are not pre-clip"),
                )
            if (s.backward_norm or 0.0) > 0 and s.step_norm == 0.0:
                raise CheckFailed(
                    expected=f"at step() of the {name} run, the gradient from backward() "
                    + ("as it is" if i == 0 else "clipped to max_norm"),
                    got="all gradients zero",
                    hint="zero_grad() belongs before backward(), not between backward() and "
                    "step().",
                    cause=ZERO_GRAD_LATE,
                )
            if i == 0 and (s.step_vs_backward or 0.0) > 1e-6:
                clipped = is_close(s.step_norm, MAX_NORM, rtol=1e-3) or bool(_clip_max_norms(s))
                raise CheckFailed(
                    expected=f"no clipping in the baseline run (norm {s.backward_norm:.4g} from "
                    "backward() used as it is by step())",
                    got=f"norm {s.step_norm:.4g} at step()",
                    hint="the baseline is clipped too: clip only in the regularized run."
                    if clipped
                    else "nothing may change the gradient between backward() and step() in "
                    "the baseline run.",
                    cause=Cause("compare_runs:clip-baseline", "the baseline run is clipped")
                    if clipped
                    else None,
                )
            if i == 1 and not _clipped_correctly(s):
                max_norms = _clip_max_norms(s)
                if max_norms and not any(is_close(m, MAX_NORM, rtol=1e-9) for m in max_norms):
                    hint = (
                        f"clip_gradients was called with max_norm={fmt(max_norms[0])}: pass the "
                        "max_norm argument of compare_runs."
                    )
                elif not max_norms and (s.step_vs_backward or 0.0) <= 1e-6:
                    hint = (
                        "the regularized run's gradients were not clipped: call "
                        "clip_gradients(model, max_norm) after backward() and before "
                        "optimizer.step(), in the regularized run."
                    )
                else:
                    hint = (
                        "clip after backward() and right before optimizer.step(), with "
                        "clip_gradients(model, max_norm) on the regularized model."
                    )
                raise CheckFailed(
                    expected="at step() of the regularized run, the batch's gradient clipped to "
                    f"total norm {MAX_NORM} (norm {min(s.backward_norm, MAX_NORM):.4g})",
                    got=f"a gradient of norm {s.step_norm:.4g}",
                    hint=hint,
                    cause=Cause(
                        "compare_runs:clip-regularized",
                        "the regularized run is not clipped as asked",
                    ),
                )
        if i == 1:
            expect(
                any((s.backward_norm or 0.0) > MAX_NORM for s in steps),
                expected=f"some steps of the regularized run with gradient norm above {MAX_NORM}",
                got="none: the check cannot see clipping at work",
                hint="make sure the regularized run trains the model returned by add_batchnorm.",
            )


def _pass_totals(obs: ProtocolReply, run_index: int, loader: str) -> list[tuple[float, int, int]]:
    """(sum of losses, number correct, number of samples seen with a loss) per pass over
    ``loader`` during run ``run_index``, from the model outputs the recorder saw."""
    totals = []
    for k, p in enumerate(obs.passes):
        if p.loader != loader or p.run != run_index:
            continue
        fw = [f for f in obs.forwards if f.pass_index == k and f.loss is not None]
        totals.append(
            (sum(f.loss or 0.0 for f in fw), sum(f.correct or 0 for f in fw), sum(f.n for f in fw))
        )
    return totals


@points(4)
def check_validation_protocol(probe, reference):
    """compare_runs: validation on val_loader each epoch, in eval mode without gradients"""
    obs = run(probe, reference)
    _trained(obs, "validation after each epoch")
    for i, name in enumerate(RUNS):
        val_forwards = [f for f in obs.forwards if f.run == i and f.phase == "val"]
        expect(
            bool(val_forwards),
            expected=f"the {name} model evaluated on val_loader",
            got="no forward pass of the model on a val_loader batch was seen",
            hint="after each epoch, loop over val_loader and call model(x) (not model.forward(x), "
            "which skips the module machinery) to compute loss and accuracy.",
            cause=NOT_OBSERVED if not any(f.run == i for f in obs.forwards) else None,
        )
        expect(
            not any(f.training for f in val_forwards),
            expected="model.eval() during validation",
            got="the model was in train mode",
            hint="call model.eval() before validating (BatchNorm must use its running "
            "statistics) and model.train() before the next training epoch.",
        )
        expect(
            not any(f.grad_enabled for f in val_forwards),
            expected="validation inside torch.no_grad()",
            got="gradients were being recorded",
            hint="wrap the validation loop in `with torch.no_grad():` (or torch.inference_mode()).",
        )
        epochs = [
            [f for f in obs.forwards if f.pass_index == k and f.run == i]
            for k, p in enumerate(obs.passes)
            if p.loader == "train" and p.run == i
        ]
        in_eval = [e + 1 for e, fw in enumerate(epochs) if any(not f.training for f in fw)]
        expect(
            not in_eval,
            expected="model.train() during every training epoch",
            got=f"training batches ran in eval mode in epoch(s) {fmt(in_eval)}",
            hint="validation leaves the model in eval mode: call model.train() at the start of "
            "every epoch, not once before the epoch loop."
            if in_eval and in_eval[0] > 1
            else "call model.train() at the start of every epoch.",
        )
        totals = _pass_totals(obs, i, "val")
        h = _history(obs, name)
        expect(
            len(totals) == EPOCHS,
            expected=f"one validation pass per epoch ({EPOCHS})",
            got=f"{len(totals)}",
            hint="evaluate once after each epoch.",
        )
        val_loss, val_acc = _values(h, "val_loss"), _values(h, "val_acc")
        for e, (loss_sum, correct, n) in enumerate(totals):
            expect(
                n == N_VAL,
                expected=f"validation in epoch {e + 1} over all {N_VAL} samples of val_loader",
                got=f"{n} samples with an output the grader could read",
                hint="evaluate every batch of val_loader, calling model(x) on each.",
            )
            expect(
                e < len(val_loss)
                and e < len(val_acc)
                and is_close(val_loss[e], loss_sum / n, rtol=1e-4)
                and is_close(val_acc[e], correct / n, rtol=1e-6),
                expected=f"{name} epoch {e + 1}: val_loss {loss_sum / n:.5g} and val_acc "
                f"{correct / n:.4g} (mean per sample over val_loader, from your model's outputs)",
                got=f"val_loss {fmt(val_loss[e] if e < len(val_loss) else None)}, val_acc "
                f"{fmt(val_acc[e] if e < len(val_acc) else None)}",
                hint="sum the per-sample losses (reduction='sum') and the correct predictions "
                "over all batches, then divide by the number of samples (len(val_loader.dataset)); "
                "batches differ in size.",
            )


@points(3)
def check_train_loss_is_mean_over_samples(probe, reference):
    """compare_runs: train_loss is the mean loss over the epoch's training samples"""
    obs = run(probe, reference)
    _trained(obs, "the mean training loss per epoch")
    for i, name in enumerate(RUNS):
        h = _history(obs, name)
        train_loss = _values(h, "train_loss")
        passes = [k for k, p in enumerate(obs.passes) if p.loader == "train" and p.run == i]
        for e, k in enumerate(passes[:EPOCHS]):
            fw = [f for f in obs.forwards if f.pass_index == k and f.loss is not None]
            n = sum(f.n for f in fw)
            expect(
                n == N_TRAIN,
                expected=f"{name} epoch {e + 1}: forward passes over all {N_TRAIN} samples",
                got=f"{n} samples with an output the grader could read",
                hint="train on every batch of train_loader, calling model(x) on each.",
                cause=NOT_OBSERVED if n == 0 else None,
            )
            want = sum(f.loss or 0.0 for f in fw) / n
            got = train_loss[e] if e < len(train_loss) else None
            batch_means = sum((f.loss or 0.0) / f.n for f in fw) / len(fw)
            last_batch = (fw[-1].loss or 0.0) / fw[-1].n
            if is_close(got, batch_means, rtol=1e-4):
                hint = (
                    "the mean of the batch means differs when the last batch is smaller: "
                    "accumulate loss.item() * len(y) and divide by the number of samples."
                )
            elif is_close(got, last_batch, rtol=1e-4):
                hint = "that is the last batch's loss: record the mean over the whole epoch."
            else:
                hint = (
                    "accumulate loss.item() * len(y) over the epoch and divide by the number "
                    "of samples seen (len(train_loader.dataset))."
                )
            expect(
                is_close(got, want, rtol=1e-4),
                expected=f"{name} epoch {e + 1}: train_loss {want:.5g} (mean over the epoch's "
                "samples of the loss of the outputs your model produced)",
                got=fmt(got),
                hint=hint,
                cause=Cause("compare_runs:train-loss", "train_loss is not the mean per sample"),
            )
