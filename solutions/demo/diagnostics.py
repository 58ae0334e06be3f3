"""Training diagnostics recorded with hooks, and their figures (instructor side).

The diagnostics of Karpathy's "Building makemore, part 3" lecture, per layer and per step:

* activations of every hidden layer (the output of each ReLU / Tanh): histograms, and how many are
  *saturated*: for tanh the % of outputs with |t| > 0.97 (where tanh' < 0.06, so almost no
  gradient flows back), for ReLU the % of *dead* units (zero for every example of the batch);
* gradients: the histogram of dL/d(activation), the 2-norm of each weight matrix's gradient
  (before clipping), and the gradient-to-data ratio std(grad) / std(weight);
* updates: log10( std(weight after step - weight before step) / std(weight before step) ), the
  size of what the optimizer actually did (momentum and clipping included). About -3 is healthy;
  much higher means the weights are being thrown around, much lower that they barely learn.

Nothing here changes training: ``DiagnosticsRecorder`` only *watches*. Used as a context manager
around any training code, it installs PyTorch's global module and optimizer hooks, adopts every
new model the first time it runs a training forward pass (naming them ``run_names`` in order),
hangs forward hooks on its activations, tensor hooks on their outputs (the backward pass),
post-accumulate-grad hooks on its weights, and measures each optimizer step from before/after
snapshots. So the demo can watch the reference ``compare_runs`` unchanged: the very training loop
the students write. All hooks are removed on exit. The hooks never draw random numbers, so a
watched run is bit-for-bit the run it would have been.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image
from torch.nn.modules import module as module_hooks
from torch.optim import optimizer as optimizer_hooks

TANH_SATURATION = 0.97  # |tanh| above this counts as saturated
SAMPLE_SIZE = 20_000  # values kept per layer for a histogram snapshot
HIST_BINS = 60  # bins of every histogram, in the figures and in diagnostics.json
UPDATE_REFERENCE = -3.0  # log10 update:data ratio that Karpathy's lecture calls healthy
ACTIVATION_TYPES = (nn.ReLU, nn.Tanh)
WEIGHTED_TYPES = (nn.Linear, nn.Conv2d)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


@dataclass
class ActivationTrace:
    """One hidden layer's activation output, one entry per training step."""

    label: str  # e.g. "layer 2 (Tanh)"
    kind: str  # "tanh" or "relu"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    saturated: list[float] = field(default_factory=list)  # fraction: tanh |t|>0.97 / dead ReLU
    grad_std: list[float] = field(default_factory=list)  # std of dL/d(output)
    first_sample: torch.Tensor | None = None  # activation values at the first step
    last_sample: torch.Tensor | None = None  # ... at the latest step
    first_grad_sample: torch.Tensor | None = None  # dL/d(output) values at the first step only

    @property
    def saturation_name(self) -> str:
        return "dead units" if self.kind == "relu" else f"|t| > {TANH_SATURATION}"


@dataclass
class WeightTrace:
    """One weight matrix (Linear / Conv2d), one entry per training step."""

    label: str  # e.g. "layer 1: Linear 3072->256"
    grad_norm: list[float] = field(default_factory=list)  # ||dL/dW||_2, before clipping
    grad_to_data: list[float] = field(default_factory=list)  # std(grad) / std(W)
    log10_update_to_data: list[float] = field(default_factory=list)  # log10 std(dW)/std(W)


@dataclass
class RunDiagnostics:
    """Everything recorded for one model."""

    name: str
    activations: list[ActivationTrace]
    weights: list[WeightTrace]
    steps: int = 0


# ------------------------------------------------------------------------------------------------
# statistics of one tensor (pure functions, also used by the tests)
# ------------------------------------------------------------------------------------------------


def strided_sample(t: torch.Tensor, size: int = SAMPLE_SIZE) -> torch.Tensor:
    """At most ``size`` values of ``t`` taken at a fixed stride (no random numbers drawn)."""
    flat = t.detach().reshape(-1)
    stride = max(1, math.ceil(flat.numel() / size))
    return flat[::stride].float().clone()


def saturated_fraction(output: torch.Tensor, kind: str) -> float:
    """tanh: fraction of outputs with |t| > 0.97. relu: fraction of units dead on the whole batch.

    A unit is a feature of a (N, F) output, a channel of a (N, C, H, W) one. ``nan`` when the
    output holds inf / nan (a diverged run): NaN units are neither dead nor alive.
    """
    out = output.detach()
    if not torch.isfinite(out).all():
        return float("nan")
    if kind == "tanh":
        return (out.abs() > TANH_SATURATION).float().mean().item()
    if kind == "relu":
        dims = [d for d in range(out.dim()) if d != 1]  # everything but the unit dimension
        alive = (out > 0).amax(dim=dims) if dims else out > 0  # (units,)
        return 1.0 - alive.float().mean().item()
    raise ValueError(f"no saturation measure for activation kind {kind!r}")


def grad_to_data_ratio(grad: torch.Tensor, weight: torch.Tensor) -> float:
    """std(grad) / std(weight): how big a gradient step is compared with the weights."""
    return (grad.detach().float().std() / weight.detach().float().std().clamp_min(1e-12)).item()


def log10_update_ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    """log10( std(after - before) / std(before) ); -inf when nothing moved."""
    ratio = ((after - before).float().std() / before.float().std().clamp_min(1e-12)).item()
    if ratio == 0.0:
        return float("-inf")
    return math.log10(ratio) if math.isfinite(ratio) else float("nan")


# ------------------------------------------------------------------------------------------------
# the recorder
# ------------------------------------------------------------------------------------------------


class DiagnosticsRecorder:
    """Watch training without touching it: ``with DiagnosticsRecorder(names) as rec: train()``.

    Each model that runs a forward pass in training mode with gradients enabled, at the top level
    (not as a sub-module of another model), is adopted as the next run of ``run_names``; models
    beyond those names, and evaluation passes (``model.eval()`` or ``torch.no_grad()``), are
    ignored. After the block, ``rec.runs`` maps each name to its ``RunDiagnostics``.
    """

    def __init__(self, run_names: Sequence[str] = ("baseline", "regularized")) -> None:
        self.run_names = list(run_names)
        self.runs: dict[str, RunDiagnostics] = {}
        self._models: dict[int, tuple[nn.Module, RunDiagnostics]] = {}  # id(model) -> run
        self._params: dict[int, tuple[RunDiagnostics, list[nn.Parameter]]] = {}  # id(param) ->
        self._before: dict[int, list[torch.Tensor]] = {}  # id(optimizer) -> weight snapshots
        self._handles: list = []
        self._depth = 0

    # context manager: install / remove the global hooks ----------------------------------------
    def __enter__(self) -> DiagnosticsRecorder:
        self._handles += [
            module_hooks.register_module_forward_pre_hook(self._on_any_forward_pre),
            module_hooks.register_module_forward_hook(self._on_any_forward, always_call=True),
            optimizer_hooks.register_optimizer_step_pre_hook(self._on_step_pre),
            optimizer_hooks.register_optimizer_step_post_hook(self._on_step_post),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._models.clear()
        self._params.clear()
        self._before.clear()
        self._depth = 0

    def _on_any_forward_pre(self, module: nn.Module, args: tuple) -> None:
        if (
            self._depth == 0
            and module.training
            and torch.is_grad_enabled()
            and id(module) not in self._models
            and len(self.runs) < len(self.run_names)
            and any(isinstance(m, WEIGHTED_TYPES) for m in module.modules())
        ):
            self.attach(module, self.run_names[len(self.runs)])
        self._depth += 1

    def _on_any_forward(self, module: nn.Module, args: tuple, output: object) -> None:
        self._depth = max(0, self._depth - 1)

    # per-model hooks -----------------------------------------------------------------------------
    def attach(self, model: nn.Module, name: str) -> RunDiagnostics:
        """Hook ``model``'s activations and weights; its records go to ``self.runs[name]``."""
        run = RunDiagnostics(name, activations=[], weights=[])
        self.runs[name] = run
        self._models[id(model)] = (model, run)
        weights: list[nn.Parameter] = []
        layer = 0
        modules = list(model.modules())
        weighted = [m for m in modules if isinstance(m, WEIGHTED_TYPES)]
        for m in modules:
            if isinstance(m, WEIGHTED_TYPES):
                layer += 1
                where = "output" if m is weighted[-1] else f"layer {layer}"
                trace = WeightTrace(f"{where}: {describe_layer(m)}")
                run.weights.append(trace)
                weights.append(m.weight)
                self._handles.append(
                    m.weight.register_post_accumulate_grad_hook(self._weight_grad_hook(trace))
                )
            elif isinstance(m, ACTIVATION_TYPES):
                kind = "relu" if isinstance(m, nn.ReLU) else "tanh"
                trace = ActivationTrace(f"layer {layer} ({type(m).__name__})", kind)
                run.activations.append(trace)
                self._handles.append(m.register_forward_hook(self._activation_hook(trace)))
        for p in weights:
            self._params[id(p)] = (run, weights)
        return run

    @staticmethod
    def _activation_hook(
        trace: ActivationTrace,
    ) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not (module.training and torch.is_grad_enabled()):
                return  # evaluation pass
            out = output.detach()
            trace.mean.append(out.float().mean().item())
            trace.std.append(out.float().std().item())
            trace.saturated.append(saturated_fraction(out, trace.kind))
            sample = strided_sample(out)
            if trace.first_sample is None:
                trace.first_sample = sample
            trace.last_sample = sample
            if output.requires_grad:

                def grad_hook(grad: torch.Tensor) -> None:
                    trace.grad_std.append(grad.detach().float().std().item())
                    if trace.first_grad_sample is None:  # the only gradient snapshot drawn
                        trace.first_grad_sample = strided_sample(grad)

                output.register_hook(grad_hook)

        return hook

    @staticmethod
    def _weight_grad_hook(trace: WeightTrace) -> Callable[[torch.Tensor], None]:
        def hook(param: torch.Tensor) -> None:
            grad = param.grad.detach()
            trace.grad_norm.append(torch.linalg.vector_norm(grad.float()).item())
            trace.grad_to_data.append(grad_to_data_ratio(grad, param))

        return hook

    # optimizer hooks: measure each update ---------------------------------------------------------
    def _watched(self, optimizer: torch.optim.Optimizer) -> tuple[RunDiagnostics, list] | None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) in self._params:
                    return self._params[id(p)]
        return None

    def _on_step_pre(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        watched = self._watched(optimizer)
        if watched is not None:
            self._before[id(optimizer)] = [w.detach().clone() for w in watched[1]]

    def _on_step_post(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        watched = self._watched(optimizer)
        before = self._before.pop(id(optimizer), None)
        if watched is None or before is None:
            return
        run, weights = watched
        for trace, w, b in zip(run.weights, weights, before, strict=True):
            trace.log10_update_to_data.append(log10_update_ratio(b, w.detach()))
        run.steps += 1


def describe_layer(m: nn.Module) -> str:
    """``"Linear 3072->256"``, ``"Conv2d 3->32"``: what a weighted layer maps."""
    if isinstance(m, nn.Linear):
        return f"Linear {m.in_features}->{m.out_features}"
    if isinstance(m, nn.Conv2d):
        return f"Conv2d {m.in_channels}->{m.out_channels}"
    return type(m).__name__


# ------------------------------------------------------------------------------------------------
# summaries: JSON-ready dict and a text table
# ------------------------------------------------------------------------------------------------


def finite_or_none(values: Iterable[float]) -> list[float | None]:
    """Strict JSON has no NaN / Infinity: non-finite values become ``null``."""
    return [v if math.isfinite(v) else None for v in map(float, values)]


def histogram_range(samples: Iterable[torch.Tensor | None], kind: str) -> tuple[float, float]:
    """A histogram range that covers EVERY finite value of ``samples`` (nothing is clamped or
    dropped): [-1, 1] for tanh, [0, max] for ReLU, [-max |g|, max |g|] for ``kind="grad"``."""
    if kind == "tanh":
        return -1.0, 1.0
    finite = [s[torch.isfinite(s)] for s in samples if s is not None]
    values = torch.cat(finite) if finite else torch.zeros(0)
    if kind == "relu":
        lo = min(0.0, values.min().item()) if values.numel() else 0.0
        hi = values.max().item() if values.numel() else 1.0
        return lo, max(hi, lo + 1e-6)
    if kind == "grad":
        bound = values.abs().max().item() if values.numel() else 1.0
        bound = bound if bound > 0 else 1e-12
        return -bound, bound
    raise ValueError(f"no histogram range for kind {kind!r}")


def histogram(sample: torch.Tensor | None, *, bins: int, lo: float, hi: float) -> list[int]:
    """Counts of the finite values of ``sample`` in ``bins`` equal bins over [lo, hi] (the last
    bin includes ``hi``); with a range from ``histogram_range`` they add up to ``count_finite``."""
    if sample is None:
        return [0] * bins
    finite = sample[torch.isfinite(sample)].float()
    return torch.histc(finite, bins=bins, min=lo, max=hi).long().tolist()


def count_finite(sample: torch.Tensor | None) -> tuple[int, int]:
    """``(finite values, non-finite values)`` of a snapshot (``(0, 0)`` when there is none)."""
    if sample is None:
        return 0, 0
    n_finite = int(torch.isfinite(sample).sum())
    return n_finite, sample.numel() - n_finite


def activation_ranges(runs: Mapping[str, RunDiagnostics]) -> dict[str, tuple[float, float]]:
    """One histogram range per activation kind, shared by every layer, run and snapshot: the
    range of the activation figure and of ``diagnostics.json``."""
    kinds = sorted({a.kind for run in runs.values() for a in run.activations})
    return {
        kind: histogram_range(
            [
                s
                for run in runs.values()
                for a in run.activations
                if a.kind == kind
                for s in (a.first_sample, a.last_sample)
            ],
            kind,
        )
        for kind in kinds
    }


def gradient_range(runs: Mapping[str, RunDiagnostics]) -> tuple[float, float]:
    """The range of the first-step dL/d(activation) histograms, shared by every layer and run."""
    return histogram_range(
        [a.first_grad_sample for run in runs.values() for a in run.activations], "grad"
    )


def diagnostics_to_dict(runs: Mapping[str, RunDiagnostics], bins: int = HIST_BINS) -> dict:
    """Per-step series (non-finite -> null) and the histograms the figures draw: activations at
    the first and last step, dL/d(activation) at the first step. Each histogram counts every
    finite value of its snapshot (``*_values``); non-finite ones are counted apart."""
    ranges = activation_ranges(runs)
    g_lo, g_hi = gradient_range(runs)
    out: dict = {}
    for name, run in runs.items():
        acts = []
        for a in run.activations:
            lo, hi = ranges[a.kind]
            entry = {
                "label": a.label,
                "kind": a.kind,
                "saturation_measure": a.saturation_name,
                "mean": finite_or_none(a.mean),
                "std": finite_or_none(a.std),
                "saturated": finite_or_none(a.saturated),
                "grad_std": finite_or_none(a.grad_std),
                "histogram_range": [lo, hi],
                "grad_histogram_range": [g_lo, g_hi],
                "histogram_bins": bins,
            }
            for key, sample, s_lo, s_hi in (
                ("histogram_first_step", a.first_sample, lo, hi),
                ("histogram_last_step", a.last_sample, lo, hi),
                ("grad_histogram_first_step", a.first_grad_sample, g_lo, g_hi),
            ):
                n_finite, n_bad = count_finite(sample)
                entry[key] = histogram(sample, bins=bins, lo=s_lo, hi=s_hi)
                entry[f"{key}_values"] = n_finite
                entry[f"{key}_non_finite"] = n_bad
            acts.append(entry)
        weights = [
            {
                "label": w.label,
                "grad_norm": finite_or_none(w.grad_norm),
                "grad_to_data": finite_or_none(w.grad_to_data),
                "log10_update_to_data": finite_or_none(w.log10_update_to_data),
            }
            for w in run.weights
        ]
        out[name] = {"steps": run.steps, "activations": acts, "weights": weights}
    return out


def _nanmedian(values: Sequence[float]) -> float:
    finite = sorted(v for v in values if math.isfinite(v))
    return finite[len(finite) // 2] if finite else float("nan")


def format_diagnostics_summary(runs: Mapping[str, RunDiagnostics]) -> str:
    """Per run and layer: saturation at the first and last step, last-epoch update ratio."""
    lines = [
        f"{'run':<12} {'layer':<34} {'saturated first':>15} {'last':>7} "
        f"{'median log10 upd/data (last 20%)':>33}"
    ]
    for name, run in runs.items():
        updates = {w.label.split(":")[0]: w.log10_update_to_data for w in run.weights}
        for a in run.activations:
            first = a.saturated[0] if a.saturated else float("nan")
            last = a.saturated[-1] if a.saturated else float("nan")
            upd = updates.get(_short(a.label), [])
            tail = upd[len(upd) - max(1, len(upd) // 5) :] if upd else []
            lines.append(
                f"{name:<12} {a.label + ', ' + a.saturation_name:<34} {first:>15.1%} "
                f"{last:>7.1%} {_nanmedian(tail):>33.2f}"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------


DPI = 110  # the PNGs: ~1400 px wide, readable in the README and on a projector
FIGURE_STYLE = {
    "font.size": 11,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "figure.titlesize": 14,
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _layer_colors(n: int) -> list:
    cmap = _pyplot().get_cmap("viridis")
    return [cmap(i / max(1, n - 1) * 0.9) for i in range(n)]


def _short(label: str) -> str:
    """``"layer 2 (Tanh)"`` -> ``"layer 2"`` (the panel title says which activation)."""
    return label.split(" (")[0]


def _hist_panel(
    ax,
    traces: Sequence[ActivationTrace],
    *,
    which: str,
    lo: float,
    hi: float,
    title: str,
    grad: bool = False,
    bins: int = HIST_BINS,
) -> None:
    """One curve per layer: the fraction of the snapshot's values in each of ``bins`` bins over
    [lo, hi] (a range that covers every finite value, so no bin collects clamped outliers)."""
    colors = _layer_colors(len(traces))
    edges = torch.linspace(lo, hi, bins + 1)
    centers = ((edges[:-1] + edges[1:]) / 2).numpy()
    drawn = False
    for trace, color in zip(traces, colors, strict=True):
        sample = getattr(trace, f"{which}_grad_sample" if grad else f"{which}_sample")
        n_finite, n_bad = count_finite(sample)
        if n_finite == 0:
            continue
        finite = sample[torch.isfinite(sample)]
        counts = torch.tensor(histogram(sample, bins=bins, lo=lo, hi=hi), dtype=torch.float64)
        density = (counts / n_finite).numpy()
        if grad:
            label = f"{_short(trace.label)}: std {finite.std().item():.1e}"
        else:
            sat = trace.saturated[0 if which == "first" else -1]
            label = (
                f"{_short(trace.label)}: mean {finite.mean().item():+.2f}, "
                f"std {finite.std().item():.2f}, "
                f"{'dead' if trace.kind == 'relu' else 'saturated'} {sat:.0%}"
            )
        if n_bad:
            label += f", {n_bad / sample.numel():.0%} nan/inf"
        ax.plot(centers, density, color=color, lw=1.3, label=label)
        drawn = True
    if not drawn:
        ax.text(
            0.5,
            0.5,
            "no finite values\n(the run diverged)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="tab:red",
            fontsize=13,
        )
    else:
        ax.legend(loc="best", framealpha=0.85)
    log = grad or (bool(traces) and traces[0].kind == "relu")
    if log:
        ax.set_yscale("log")
    kind = traces[0].kind if traces else ""
    ax.set_xlabel("dL/d(activation)" if grad else f"activation value ({kind} output)")
    ax.set_ylabel("fraction of values" + (" (log scale)" if log else ""))
    ax.set_xlim(lo - 0.01 * (hi - lo), hi + 0.01 * (hi - lo))
    if grad:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.set_title(title)
    ax.grid(alpha=0.3)


def _series_panel(
    ax,
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    *,
    title: str,
    log: bool,
    ylabel: str = "",
    legend: bool = True,
) -> None:
    """One line per layer over the optimizer steps (inf / nan leave gaps)."""
    colors = _layer_colors(len(series))
    for label, values, color in zip(labels, series, colors, strict=True):
        ys = [v if math.isfinite(v) else float("nan") for v in values]
        ax.plot(ys, color=color, lw=1.0, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("optimizer step")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    if series and legend:
        ax.legend(loc="best", framealpha=0.85, ncol=2 if len(series) > 5 else 1)


def _legend_here(labels_by_column: Sequence[Sequence[str]], col: int) -> bool:
    """Draw a row's layer legend once, in its last panel, when every panel has the same layers
    (same labels, same colours): a legend on a noisy baseline panel only hides its data."""
    same = all(list(labels) == list(labels_by_column[0]) for labels in labels_by_column)
    return not same or col == len(labels_by_column) - 1


def _save(fig, path: str | os.PathLike, title: str) -> Path:
    plt = _pyplot()
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    plt.close(fig)
    # a 256-colour palette, without dithering, looks the same and keeps the files ~3x smaller
    with Image.open(buffer) as rendered:
        palette = rendered.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    palette.save(path)
    return path


def plot_activations(
    runs: Mapping[str, RunDiagnostics], *, path: str | os.PathLike, title: str = ""
) -> Path:
    """Rows: histograms at the first step, at the last step, saturation per step; a column a run.

    All four histogram panels share one x range, which covers every value (as in
    ``diagnostics.json``): the runs and the two snapshots compare at a glance."""
    plt = _pyplot()
    names = list(runs)
    ranges = activation_ranges(runs)
    with plt.rc_context(FIGURE_STYLE):
        fig, axes = plt.subplots(3, len(names), figsize=(6.5 * len(names), 12), squeeze=False)
        for col, name in enumerate(names):
            acts = runs[name].activations
            lo, hi = ranges[acts[0].kind] if acts else (0.0, 1.0)
            for row, which in enumerate(("first", "last")):
                _hist_panel(
                    axes[row, col],
                    acts,
                    which=which,
                    lo=lo,
                    hi=hi,
                    title=f"{name}: activations at the {which} step",
                )
            measure = acts[0].saturation_name if acts else ""
            _series_panel(
                axes[2, col],
                [_short(a.label) for a in acts],
                [[100 * v for v in a.saturated] for a in acts],
                title=f"{name}: % saturated ({measure}) per step",
                log=False,
                ylabel="% of units" if measure == "dead units" else "% of outputs",
                legend=_legend_here(
                    [[_short(a.label) for a in runs[n].activations] for n in names], col
                ),
            )
        _share_y(axes[2])
        return _save(fig, path, title or "Activations per hidden layer")


def plot_gradients(
    runs: Mapping[str, RunDiagnostics], *, path: str | os.PathLike, title: str = ""
) -> Path:
    """Rows: dL/d(activation) histograms at the first step (one x range for both runs), weight-
    gradient norm per layer, and the gradient-to-data ratio per layer, per step; a column a run."""
    plt = _pyplot()
    names = list(runs)
    g_lo, g_hi = gradient_range(runs)
    with plt.rc_context(FIGURE_STYLE):
        fig, axes = plt.subplots(3, len(names), figsize=(6.5 * len(names), 12), squeeze=False)
        for col, name in enumerate(names):
            run = runs[name]
            _hist_panel(
                axes[0, col],
                run.activations,
                which="first",
                lo=g_lo,
                hi=g_hi,
                title=f"{name}: dL/d(activation) at the first step",
                grad=True,
            )
            labels = [w.label for w in run.weights]
            legend = _legend_here([[w.label for w in runs[n].weights] for n in names], col)
            _series_panel(
                axes[1, col],
                labels,
                [w.grad_norm for w in run.weights],
                title=f"{name}: weight-gradient 2-norm (before clipping)",
                log=True,
                ylabel="||dL/dW||",
                legend=legend,
            )
            _series_panel(
                axes[2, col],
                labels,
                [w.grad_to_data for w in run.weights],
                title=f"{name}: gradient-to-data ratio",
                log=True,
                ylabel="std(dL/dW) / std(W)",
                legend=legend,
            )
        _share_y(axes[1])
        _share_y(axes[2])
        return _save(fig, path, title or "Gradients per layer")


def plot_updates(
    runs: Mapping[str, RunDiagnostics], *, path: str | os.PathLike, title: str = ""
) -> Path:
    """log10 update-to-data ratio per weight matrix and step, with the -3 reference line."""
    plt = _pyplot()
    names = list(runs)
    with plt.rc_context(FIGURE_STYLE):
        fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 5.2), squeeze=False)
        for col, name in enumerate(names):
            run = runs[name]
            _series_panel(
                axes[0, col],
                [w.label for w in run.weights],
                [w.log10_update_to_data for w in run.weights],
                title=f"{name}: update-to-data ratio per step",
                log=False,
                ylabel="log10( std(update) / std(W) )",
                legend=_legend_here([[w.label for w in runs[n].weights] for n in names], col),
            )
        _share_y(axes[0])
        for ax in axes[0]:
            ax.axhline(UPDATE_REFERENCE, color="black", ls="--", lw=1.2)
            ax.text(
                0.99,
                UPDATE_REFERENCE,
                f"{UPDATE_REFERENCE:g}: the lecture's rule of thumb ",
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="bottom",
                fontsize=9.5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )
        return _save(fig, path, title or "Update-to-data ratio")


def _share_y(axes_row: Sequence) -> None:
    """Give a row of panels the same y-limits so the runs compare at a glance."""
    lows, highs = zip(*(ax.get_ylim() for ax in axes_row), strict=True)
    for ax in axes_row:
        ax.set_ylim(min(lows), max(highs))
