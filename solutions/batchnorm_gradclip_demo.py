"""Instructor live demo: one network with and without BatchNorm + gradient clipping on CIFAR-10.

Run from the repository root::

    python solutions/batchnorm_gradclip_demo.py              # the calm story, ~30 s on 2 cores
    python solutions/batchnorm_gradclip_demo.py --dramatic   # exploding gradients, ~35 s
    python solutions/batchnorm_gradclip_demo.py --arch cnn   # the small CNN, ~65 s

Both runs are trained by the reference ``compare_runs`` of the exercise (same seed, same initial
weights, same batches); ``DiagnosticsRecorder`` watches them through hooks. The output directory
gets ``metrics.json`` (the histories), ``diagnostics.json`` (per-layer series and the settings),
``curves.png`` (the exercise's figure), ``activations.png``, ``gradients.png`` and ``updates.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `solutions.*` importable
    sys.path.insert(0, str(REPO_ROOT))

# The reference solution and the student helpers are imported as `solutions.<name>`, never under
# their bare names, so that the student's own `batchnorm_gradclip_exercise` is never shadowed.
from solutions import batchnorm_gradclip_exercise as reference  # noqa: E402
from solutions.demo import data as demo_data  # noqa: E402
from solutions.demo import diagnostics as demo_diagnostics  # noqa: E402
from solutions.demo import models as demo_models  # noqa: E402
from solutions.exercise_utils import ProgressLoader, format_summary, plot_runs  # noqa: E402

RUN_NAMES = ("baseline", "regularized")

# What each preset sets; any flag given on the command line wins over the preset. ``width=None``:
# the architecture's own default (``demo_models.DEFAULT_WIDTH``: 256 units, 16 channels).
PRESETS: dict[str, dict[str, object]] = {
    # the exercise's network and settings (ReLU MLP, lr 0.05, clip at 1) on colour images: both
    # runs train; BatchNorm + clipping gets there faster (compare the first epochs)
    "default": dict(
        arch="mlp",
        depth=4,
        width=None,
        activation="relu",
        lr=0.05,
        max_norm=1.0,
        epochs=5,
        subset=5000,
        n_val=2000,
        batch_size=128,
        init_gain=None,
    ),
    # twice as deep, tanh with its recommended gain 5/3, and four times the learning rate: the
    # plain network's loss explodes and it never leaves chance level; BN + clipping trains
    "dramatic": dict(
        arch="mlp",
        depth=8,
        width=None,
        activation="tanh",
        lr=0.2,
        max_norm=1.0,
        epochs=5,
        subset=5000,
        n_val=2000,
        batch_size=128,
        init_gain=5 / 3,
    ),
}


@dataclass
class DemoConfig:
    """Everything that determines a demo run."""

    data_dir: str | None
    arch: str
    depth: int
    width: int
    activation: str
    lr: float
    max_norm: float
    epochs: int
    subset: int
    n_val: int
    batch_size: int
    init_gain: float | None
    seed: int
    out: str
    preset: str = "default"
    cache_dir: str | None = None
    data_origin: str = "--data-dir"  # what chose data_dir (see demo_data.find_data_dir)


@dataclass
class RunOutcome:
    """The headline numbers of one run."""

    final_val_acc: float
    best_val_acc: float
    final_train_loss: float
    max_grad_norm: float  # the first inf / nan when the gradients overflowed, else the largest
    non_finite: bool  # a loss or gradient norm became inf / nan
    diverged: bool  # non-finite, or the final training loss is above 2 ln(classes): far worse
    # than the ln(classes) of a uniform guess
    stalled: bool  # final validation accuracy below 1.5x chance
    clipped_steps: int  # steps whose norm exceeded max_norm (clipped in the regularized run)


@dataclass
class DemoResult:
    config: DemoConfig
    histories: dict  # compare_runs output
    diagnostics: dict[str, demo_diagnostics.RunDiagnostics]
    outcomes: dict[str, RunOutcome]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------


def outcome(
    history: Mapping[str, Sequence[float]], *, max_norm: float, num_classes: int
) -> RunOutcome:
    """The verdict on one ``compare_runs`` history.

    ``max_grad_norm`` is the first non-finite gradient norm (inf or nan: where the run
    overflowed) if there is one, else the largest; ``format_summary``'s "max |g|" is the same.
    """
    norms = list(history["grad_norm"])
    finite = all(math.isfinite(v) for v in [*history["train_loss"], *norms])
    # nan ranks as inf and max() keeps the first of equal keys: the first inf / nan wins
    max_norm_seen = max(norms, key=lambda v: math.inf if math.isnan(v) else v, default=0.0)
    return RunOutcome(
        final_val_acc=history["val_acc"][-1],
        best_val_acc=max(history["val_acc"]),
        final_train_loss=history["train_loss"][-1],
        max_grad_norm=max_norm_seen,
        non_finite=not finite,
        diverged=not finite or history["train_loss"][-1] > 2 * math.log(num_classes),
        stalled=history["val_acc"][-1] < 1.5 / num_classes,
        clipped_steps=sum(1 for v in norms if not v <= max_norm),
    )


def run_demo(config: DemoConfig, *, progress: bool = True) -> DemoResult:
    """Load the data, train both runs under the recorder, write every output; return the result."""
    start = time.perf_counter()
    data = demo_data.load_demo_data(
        config.data_dir,
        n_train=config.subset,
        n_val=config.n_val,
        seed=config.seed,
        cache_dir=config.cache_dir,
        origin=config.data_origin,
    )
    print(
        f"data: {len(data.x_train)} training / {len(data.x_val)} validation images "
        f"{tuple(data.image_shape)}, {data.num_classes} classes, from {data.source} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    make_model = demo_models.model_factory(
        config.arch,
        data.image_shape,
        data.num_classes,
        depth=config.depth,
        width=config.width,
        activation=config.activation,
        init_gain=config.init_gain,
    )
    print(f"model (baseline): {make_model()}".replace("\n", "\n  "))
    train_loader, val_loader = demo_data.make_loaders(data, batch_size=config.batch_size)
    loader = ProgressLoader(train_loader, epochs=config.epochs, runs=RUN_NAMES)
    if not progress:
        loader = train_loader
    with demo_diagnostics.DiagnosticsRecorder(RUN_NAMES) as recorder:
        histories = reference.compare_runs(
            make_model,
            loader,
            val_loader,
            epochs=config.epochs,
            lr=config.lr,
            max_norm=config.max_norm,
            seed=config.seed,
        )
    outcomes = {
        name: outcome(histories[name], max_norm=config.max_norm, num_classes=data.num_classes)
        for name in RUN_NAMES
    }
    result = DemoResult(
        config, histories, recorder.runs, outcomes, seconds=time.perf_counter() - start
    )
    result.files = write_outputs(result, out=Path(config.out))
    result.seconds = time.perf_counter() - start
    return result


# ------------------------------------------------------------------------------------------------
# outputs: JSON, figures, text
# ------------------------------------------------------------------------------------------------


def metrics_to_dict(histories: Mapping[str, Mapping]) -> dict:
    """``{"baseline": {"train_loss", "val_loss", "val_acc", "grad_norm"}, "regularized": ...}``;
    non-finite values (a diverged run) become ``null`` so that the file is strict JSON."""
    keys = ("train_loss", "val_loss", "val_acc", "grad_norm")
    return {
        name: {k: demo_diagnostics.finite_or_none(h[k]) for k in keys}
        for name, h in histories.items()
    }


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def write_outputs(result: DemoResult, *, out: Path) -> dict[str, Path]:
    """Write ``metrics.json``, ``diagnostics.json`` and the four figures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config
    label = (
        f"{cfg.arch.upper()} depth {cfg.depth}, {cfg.activation}, lr {cfg.lr:g}, "
        f"{cfg.subset} images"
    )
    files = {
        "metrics": out / "metrics.json",
        "diagnostics": out / "diagnostics.json",
    }
    files["metrics"].write_text(json.dumps(metrics_to_dict(result.histories), indent=1))
    extra = {
        "config": asdict(cfg),
        "outcomes": {k: _json_safe(asdict(v)) for k, v in result.outcomes.items()},
        "runs": demo_diagnostics.diagnostics_to_dict(result.diagnostics),
    }
    files["diagnostics"].write_text(json.dumps(extra, indent=1))
    files["curves"] = plot_runs(
        result.histories,
        max_norm=cfg.max_norm,
        path=out / "curves.png",
        title=f"Baseline vs BatchNorm + clipping at {cfg.max_norm:g}: {label}",
    )
    files["activations"] = demo_diagnostics.plot_activations(
        result.diagnostics,
        path=out / "activations.png",
        title=f"Activations per hidden layer: {label}",
    )
    files["gradients"] = demo_diagnostics.plot_gradients(
        result.diagnostics, path=out / "gradients.png", title=f"Gradients per layer: {label}"
    )
    files["updates"] = demo_diagnostics.plot_updates(
        result.diagnostics, path=out / "updates.png", title=f"Update-to-data ratio: {label}"
    )
    return files


def format_outcomes(result: DemoResult) -> str:
    """One line per run: the verdict, best accuracy, largest norm, steps above max-norm."""
    lines = []
    for name, o in result.outcomes.items():
        verdict = "trained"
        if o.stalled:
            verdict = "stalled near chance"
        if o.diverged:
            verdict = "DIVERGED (loss " + ("nan/inf)" if o.non_finite else "exploded)")
        lines.append(
            f"{name:<12} {verdict:<24} best val acc {o.best_val_acc:6.2%}, largest |g| "
            f"{o.max_grad_norm:.3g}, |g| > max-norm on {o.clipped_steps} steps"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="ImageFolder directory with train/ and test/ (default: $BNGC_DEMO_DATA if set, else "
        f"the shared CIFAR-10 subset {demo_data.SHARED_CIFAR10} if present, else torchvision's "
        "CIFAR10, downloaded)",
    )
    p.add_argument(
        "--dramatic",
        action="store_true",
        help="deeper net, stronger init, higher lr: the baseline explodes",
    )
    p.add_argument("--subset", type=positive_int, help="training images (class balanced)")
    p.add_argument("--n-val", type=positive_int, help="validation images, from the test split")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=positive_float, help="SGD learning rate (momentum 0.9)")
    p.add_argument(
        "--max-norm",
        type=positive_float,
        help="gradient clipping threshold (a huge value such as 1e9 switches clipping off)",
    )
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--arch", choices=demo_models.ARCHITECTURES)
    p.add_argument("--depth", type=positive_int, help="hidden layers (MLP) or conv blocks (CNN)")
    p.add_argument(
        "--width",
        type=positive_int,
        help="hidden units (MLP) or first conv channels (CNN); default "
        + ", ".join(f"{k} {v}" for k, v in demo_models.DEFAULT_WIDTH.items()),
    )
    p.add_argument("--activation", choices=tuple(demo_models.ACTIVATIONS))
    p.add_argument(
        "--init-gain",
        type=positive_float,
        help="redraw weights from N(0, gain^2/fan_in) (default: PyTorch's init)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="demo_out", help="directory for metrics.json and figures")
    p.add_argument(
        "--cache-dir",
        default=str(demo_data.DEFAULT_CACHE_DIR),
        help="where decoded images are cached",
    )
    p.add_argument("--no-cache", action="store_true", help="decode the images every run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """The preset chosen by ``--dramatic``, overridden by every flag given explicitly."""
    preset = "dramatic" if args.dramatic else "default"
    values = {
        key: getattr(args, key) if getattr(args, key) is not None else default
        for key, default in PRESETS[preset].items()
    }
    if values["width"] is None:
        values["width"] = demo_models.DEFAULT_WIDTH[values["arch"]]
    location = demo_data.find_data_dir(args.data_dir)
    return DemoConfig(
        data_dir=str(location.path) if location.path is not None else None,
        data_origin=location.origin,
        seed=args.seed,
        out=args.out,
        preset=preset,
        cache_dir=None if args.no_cache else args.cache_dir,
        **values,  # type: ignore[arg-type]
    )


def config_problem(config: DemoConfig) -> str | None:
    """What makes a configuration unusable even though every flag is valid alone, or ``None``."""
    if config.subset < config.batch_size:
        return (
            f"--subset {config.subset} is smaller than --batch-size {config.batch_size} "
            f"(with the {config.preset} preset's values): the incomplete last batch is dropped, "
            "so no training step would run. Raise --subset or lower --batch-size."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line: parse and check the flags, run the demo, print the tables; exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(args)
    problem = config_problem(config)
    if problem:
        parser.error(problem)  # exits with status 2
    try:
        result = run_demo(config, progress=not args.no_progress)
    except demo_data.DemoDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_summary(result.histories))
    print(format_outcomes(result))
    print()
    print(demo_diagnostics.format_diagnostics_summary(result.diagnostics))
    print()
    for kind, path in result.files.items():
        print(f"{kind:<12} {path}")
    print(f"done in {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
