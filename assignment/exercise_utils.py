"""Helpers for the BatchNorm & gradient clipping exercise: data, experiment, plots, checks.

You do not need to edit this file. It gives `batchnorm_gradclip_exercise.py` these things:

* Fashion-MNIST as tensors and DataLoaders (`fashion_mnist_loaders`), found on disk or downloaded,
* the experiment's settings and command line (`ExperimentSettings`, `experiment_settings`),
* `ProgressLoader`, a DataLoader wrapper that draws a progress bar while your loop iterates it,
* `report_experiment`: the summary table, the figure (`plot_runs`) and `metrics.json`
  (`save_metrics`) that compare the baseline with the regularized run,
* `check`, which runs the public tests of one function on the code of your notebook.

Where the data comes from, in this order:

1. ``$FASHION_MNIST_ROOT`` or the ``root`` you pass (default: ``data/`` beside this file), laid
   out as torchvision expects: ``<root>/FashionMNIST/raw/train-images-idx3-ubyte`` and friends;
2. the four ``*.gz`` files of the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``), decompressed into that layout;
3. torchvision's own download (needs the internet).
"""

import argparse
import contextlib
import gzip
import io
import json
import math
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Mean and standard deviation of the 60,000 training images, pixel values scaled to [0, 1].
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530
FASHION_MNIST_TRAIN_SIZE = 60000

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_ROOT = Path(__file__).resolve().parent / "data"

# file name -> (magic number, number of items) of the official IDX files
_IDX_FILES = {
    "train-images-idx3-ubyte": (2051, FASHION_MNIST_TRAIN_SIZE),
    "train-labels-idx1-ubyte": (2049, FASHION_MNIST_TRAIN_SIZE),
    "t10k-images-idx3-ubyte": (2051, 10000),
    "t10k-labels-idx1-ubyte": (2049, 10000),
}


class FashionMNISTUnavailable(RuntimeError):
    """Fashion-MNIST is neither on disk nor downloadable; the message says how to get it."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The torchvision root to use: ``root``, else ``$FASHION_MNIST_ROOT``, else ``data/``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("FASHION_MNIST_ROOT")
    return Path(env) if env else DEFAULT_ROOT


def _check_idx(path: Path, magic: int, count: int) -> None:
    with open(path, "rb") as f:
        header = f.read(8)
    if len(header) < 8:
        raise FashionMNISTUnavailable(f"{path} is truncated (fewer than 8 bytes); delete it.")
    got_magic = int.from_bytes(header[:4], "big")
    got_count = int.from_bytes(header[4:8], "big")
    if (got_magic, got_count) != (magic, count):
        raise FashionMNISTUnavailable(
            f"{path} is not the expected IDX file (magic {got_magic}, {got_count} items; "
            f"expected magic {magic}, {count} items). Delete it and run again."
        )


def _decompress(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    # write to a temporary file first so that an interrupted run never leaves half a file
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".")
    try:
        with gzip.open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_fashion_mnist(root: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Make sure ``<root>/FashionMNIST/raw`` holds the four IDX files.

    Inputs:
    - root: the torchvision root (see ``data_root``).
    - download: whether torchvision may download what is missing.

    Returns:
    - The root, as a ``Path``.

    Raises:
    - FashionMNISTUnavailable: with a message that says where the files were looked for.
    """
    root = data_root(root)
    raw = root / "FashionMNIST" / "raw"
    sources = [raw, root, DEBIAN_DIR]
    for name in sorted(_IDX_FILES):
        target = raw / name
        if target.exists():
            continue
        for src_dir in sources:
            if (src_dir / name).exists() and src_dir != raw:
                raw.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src_dir / name, target)
                break
            if (src_dir / f"{name}.gz").exists():
                _decompress(src_dir / f"{name}.gz", target)
                break
    missing = [name for name in sorted(_IDX_FILES) if not (raw / name).exists()]
    if missing and download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
        except Exception as exc:  # no network, proxy, disk full, ...
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = ""
        missing = [name for name in sorted(_IDX_FILES) if not (raw / name).exists()]
    if missing:
        raise FashionMNISTUnavailable(
            "Fashion-MNIST not found: missing "
            + ", ".join(missing)
            + f" in {raw}.\nGet it in one of these ways:\n"
            "  * sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu, works offline)\n"
            "  * set FASHION_MNIST_ROOT to a folder holding FashionMNIST/raw/ (or the .gz files)\n"
            "  * connect to the internet so that torchvision can download it"
            + (f"\n(download failed: {reason})" if download and reason else "")
        )
    for name, (magic, count) in _IDX_FILES.items():
        _check_idx(raw / name, magic, count)
    return root


def load_fashion_mnist(
    root: str | os.PathLike | None = None, *, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of Fashion-MNIST through torchvision.

    Inputs:
    - root: the torchvision root (see ``data_root``).
    - train: the training split (60,000 images) or the test split (10,000).

    Returns a tuple of:
    - images: uint8 tensor of shape (N, 28, 28)
    - labels: int64 tensor of shape (N,), class indices 0..9
    """
    from torchvision.datasets import FashionMNIST

    root = prepare_fashion_mnist(root)
    dataset = FashionMNIST(str(root), train=train, download=False)
    return dataset.data, dataset.targets.long()


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised with training-set statistics."""
    x = images.float().div(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return (x - FASHION_MNIST_MEAN) / FASHION_MNIST_STD


def fashion_mnist_loaders(
    *,
    n_train: int = 10000,
    n_val: int = 5000,
    batch_size: int = 64,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    drop_last: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation DataLoaders on disjoint random subsets of the training split.

    The subsets are drawn with their own generator (``seed``), so they are the same on every run;
    the training loader reshuffles every epoch with torch's global random state, so seeding
    before training fixes the order too. With ``drop_last`` the training loader skips the last,
    incomplete batch of each epoch: every step then averages over ``batch_size`` samples (a
    batch of a few samples has noisy BatchNorm statistics and an outlying gradient norm).

    Inputs:
    - n_train, n_val: the sizes of the two subsets (together at most 60,000).
    - batch_size: the training batch size (validation uses batches of 512).
    - seed: chooses the subsets.
    - root: the torchvision root (see ``data_root``).
    - drop_last: skip the incomplete last training batch of each epoch.

    Returns:
    - (train_loader, val_loader): batches of x (B, 1, 28, 28) float32 and y (B,) int64.

    Raises:
    - ValueError: for sizes that do not fit the 60,000 training images.
    """
    if n_train < 1 or n_val < 1 or batch_size < 1:
        raise ValueError(
            f"n_train ({n_train}), n_val ({n_val}) and batch_size ({batch_size}) must be >= 1"
        )
    if n_train + n_val > FASHION_MNIST_TRAIN_SIZE:
        raise ValueError(
            f"n_train + n_val = {n_train + n_val} > {FASHION_MNIST_TRAIN_SIZE} training images"
        )
    if drop_last and n_train < batch_size:
        raise ValueError(
            f"n_train ({n_train}) < batch_size ({batch_size}): with drop_last there would be no "
            "complete training batch"
        )
    images, labels = load_fashion_mnist(root, train=True)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = perm[:n_train], perm[n_train : n_train + n_val]
    x = normalize_images(images)
    train = TensorDataset(x[train_idx], labels[train_idx])
    val = TensorDataset(x[val_idx], labels[val_idx])
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=drop_last),
        DataLoader(val, batch_size=512, shuffle=False),
    )


class ProgressLoader:
    """Wraps a DataLoader and shows a progress bar while it is iterated.

    ``len()`` and the batches are the loader's: from the same seed, the same order.

    ``compare_runs`` iterates the training loader ``epochs`` times per run, runs in the order
    given, so each pass can be labelled "baseline epoch 1/3" and so on.
    """

    def __init__(
        self,
        loader: DataLoader,
        *,
        epochs: int,
        runs: Sequence[str] = ("baseline", "regularized"),
    ) -> None:
        self.loader, self.epochs, self.runs = loader, epochs, tuple(runs)
        self._passes = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        from tqdm.auto import tqdm

        run, epoch = divmod(self._passes, self.epochs)
        self._passes += 1
        name = self.runs[run] if run < len(self.runs) else f"run {run + 1}"
        desc = f"{name:>11} epoch {epoch + 1}/{self.epochs}"
        # One iterator, made here: tqdm would call iter(loader) twice, and each call of a
        # shuffling DataLoader draws from torch's random state (the order would then differ
        # from the unwrapped loader's). disable=None: no bar when the output is not a terminal.
        batches = iter(self.loader)
        yield from tqdm(
            batches, total=len(self.loader), desc=desc, leave=False, disable=None, mininterval=0.5
        )


# ------------------------------------------------------------------------------------------------
# The experiment: settings, command line, report
# ------------------------------------------------------------------------------------------------

# The learning rate of the --unstable preset: the baseline diverges, the regularized run learns.
UNSTABLE_LR = 0.5


@dataclass(frozen=True)
class ExperimentSettings:
    """The settings of ``python batchnorm_gradclip_exercise.py`` (defaults = no flags).

    The clip threshold ``max_norm`` = 1.5 comes from the gradient norms of the regularized model
    trained WITHOUT clipping at these settings (``--max-norm 1e9``): median about 0.8, 95th
    percentile about 1.3. At about twice the median, above the 95th percentile, clipping only
    trims the spikes (mostly the first steps). README.md, "Run the experiment", has the numbers.
    """

    epochs: int = 3
    lr: float = 0.1
    max_norm: float = 1.5
    n_train: int = 10000
    n_val: int = 5000
    batch_size: int = 64
    seed: int = 0
    data_root: str | None = None
    out: str = "runs"  # folder for runs.png and metrics.json


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: ``kind(text)``, which must be finite and > 0."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its errors
    return parse


def experiment_settings(argv: Sequence[str] | None = None) -> ExperimentSettings:
    """Parse the experiment's command line (``--help`` lists the flags).

    ``--unstable`` is the preset with learning rate ``UNSTABLE_LR`` (an explicit ``--lr``
    wins). A bad value ends the program with one argparse error line (exit status 2).

    Inputs:
    - argv: the arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
    - The ``ExperimentSettings``.
    """
    d = ExperimentSettings()
    parser = argparse.ArgumentParser(
        prog="batchnorm_gradclip_exercise.py",
        description="Train a baseline MLP and its BatchNorm + gradient clipping version on "
        "Fashion-MNIST under identical conditions; print a summary and write OUT/runs.png and "
        "OUT/metrics.json.",
    )
    parser.add_argument(
        "--unstable",
        action="store_true",
        help=f"learning rate {UNSTABLE_LR} (unless --lr is given): the baseline diverges",
    )
    parser.add_argument("--epochs", type=_positive(int), default=d.epochs)
    parser.add_argument(
        "--lr", type=_positive(float), default=None, help=f"default {d.lr} ({UNSTABLE_LR} unstable)"
    )
    parser.add_argument(
        "--max-norm",
        type=_positive(float),
        default=d.max_norm,
        help=f"clip threshold of the regularized run (default {d.max_norm}; 1e9: no clipping)",
    )
    parser.add_argument("--n-train", type=_positive(int), default=d.n_train)
    parser.add_argument("--n-val", type=_positive(int), default=d.n_val)
    parser.add_argument("--batch-size", type=_positive(int), default=d.batch_size)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--data-root", default=None, help="torchvision root for Fashion-MNIST")
    parser.add_argument(
        "--out", default=d.out, help=f"folder for runs.png and metrics.json (default {d.out}/)"
    )
    args = parser.parse_args(argv)
    if args.batch_size < 2:
        parser.error("--batch-size must be at least 2 (BatchNorm needs 2 samples per batch)")
    if args.n_train < args.batch_size:
        parser.error(f"--n-train ({args.n_train}) must be at least --batch-size")
    if args.n_train + args.n_val > FASHION_MNIST_TRAIN_SIZE:
        parser.error(f"--n-train + --n-val must be at most {FASHION_MNIST_TRAIN_SIZE}")
    lr = args.lr if args.lr is not None else (UNSTABLE_LR if args.unstable else d.lr)
    values = {f.name: getattr(args, f.name) for f in fields(ExperimentSettings)}
    return ExperimentSettings(**{**values, "lr": lr})


def format_summary(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    """A small text table: final losses, accuracy and gradient-norm statistics of each run.

    Inputs:
    - histories: ``{"baseline": {...}, "regularized": {...}}`` as returned by ``compare_runs``.

    Returns:
    - The table as a string. A run that diverged has ``inf`` / ``nan`` gradient norms: its
      "max |g|" then reads the first of them (``inf`` or ``nan``: where the run overflowed), its
      median is taken over the finite norms only, and a note under the table says how many
      steps were not finite.
    """
    lines = [
        f"{'run':<12} {'train loss':>10} {'val loss':>9} {'val acc':>8} "
        f"{'max |g|':>8} {'median |g|':>10}"
    ]
    notes = []
    for name, h in histories.items():
        norms = [float(v) for v in h["grad_norm"]]
        finite = sorted(v for v in norms if math.isfinite(v))
        # nan ranks as inf and the first of equals wins: the first inf / nan, else the largest
        largest = max(norms, key=lambda v: math.inf if math.isnan(v) else v, default=math.nan)
        median = finite[len(finite) // 2] if finite else math.nan
        lines.append(
            f"{name:<12} {h['train_loss'][-1]:>10.4f} {h['val_loss'][-1]:>9.4f} "
            f"{h['val_acc'][-1]:>8.2%} {largest:>8.2f} {median:>10.2f}"
        )
        if len(finite) < len(norms):
            notes.append(
                f"{name}: {len(norms) - len(finite)} of {len(norms)} gradient norms are inf/nan "
                f"(the run diverged); its median |g| is over the {len(finite)} finite ones"
            )
    return "\n".join(lines + notes)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of the finite ``values`` (nearest rank); nan if none."""
    finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(finite)))
    return finite[rank - 1]


def clipped_steps(grad_norms: Sequence[float], max_norm: float) -> int:
    """How many steps clipping was active on: the norm exceeded ``max_norm`` (or was nan)."""
    return sum(not (n <= max_norm) for n in grad_norms)


def clipping_summary(history: Mapping[str, Sequence[float]], max_norm: float) -> str:
    """One line on how often clipping was active, with the norms the threshold is set from.

    Inputs:
    - history: the regularized run's history (``grad_norm`` is recorded before clipping).
    - max_norm: the clip threshold.

    Returns:
    - e.g. "clipping was active on 27/468 steps (5.8 %) of the regularized run; its gradient
      norms: median 0.80, 95th percentile 1.35, threshold 1.5".
    """
    norms = [float(n) for n in history["grad_norm"]]
    active = clipped_steps(norms, max_norm)
    share = active / len(norms) if norms else 0.0
    return (
        f"clipping was active on {active}/{len(norms)} steps ({share:.1%}) of the regularized "
        f"run; its gradient norms: median {percentile(norms, 50):.2f}, 95th percentile "
        f"{percentile(norms, 95):.2f}, threshold {max_norm:g}"
    )


def run_verdicts(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, num_classes: int = 10
) -> list[str]:
    """A sentence for each run that diverged (loss not finite) or ended near chance level."""
    verdicts = []
    for name, h in histories.items():
        if not all(math.isfinite(v) for v in h["train_loss"]):
            verdicts.append(
                f"the {name} run diverged: its training loss is not finite (look at its gradient "
                "norms)"
            )
        elif h["val_acc"][-1] < 2.0 / num_classes:
            verdicts.append(
                f"the {name} run ended near chance level ({h['val_acc'][-1]:.1%} validation "
                f"accuracy; chance is {1 / num_classes:.0%}): it stopped learning"
            )
    return verdicts


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def save_metrics(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    max_norm: float,
    path: str | os.PathLike,
) -> Path:
    """Write the runs' histories as strict JSON.

    The file is ``{"max_norm": float, "baseline": {...}, "regularized": {...}}``, each run with
    the lists ``train_loss``, ``val_loss``, ``val_acc`` (one value per epoch) and ``grad_norm``
    (one per step, before clipping). A value that is inf or nan (a diverged run) is written as
    ``null``: JSON has no such numbers.

    Inputs:
    - histories: as returned by ``compare_runs`` (the ``"model"`` entries are not saved).
    - max_norm: the clip threshold of the regularized run.
    - path: where to write the file.

    Returns:
    - The path written.
    """
    keys = ("train_loss", "val_loss", "val_acc", "grad_norm")
    data: dict[str, object] = {"max_norm": float(max_norm)}
    for run in ("baseline", "regularized"):  # the order of compare_runs
        data[run] = {k: [_finite_or_none(v) for v in histories[run][k]] for k in keys}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _first_non_finite(values: Sequence[float]) -> int | None:
    """Index of the first inf / nan in ``values`` (a diverged run), or ``None``."""
    return next((i for i, v in enumerate(values) if not math.isfinite(v)), None)


def plot_runs(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    max_norm: float | None = None,
    path: str | os.PathLike = "runs.png",
    title: str = "Baseline vs BatchNorm + gradient clipping",
) -> Path:
    """Save a 2x2 figure: training loss, validation loss, validation accuracy, gradient norms.

    Inputs:
    - histories: ``{"baseline": {...}, "regularized": {...}}`` as returned by ``compare_runs``
      (the ``"model"`` entries are ignored).
    - max_norm: the clipping threshold, drawn as a dashed line on the gradient-norm panel.
    - path: where to write the PNG.
    - title: the figure's title.

    Returns:
    - The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [
        (axes[0, 0], "train_loss", "training loss (mean per sample)"),
        (axes[0, 1], "val_loss", "validation loss"),
        (axes[1, 0], "val_acc", "validation accuracy"),
    ]
    colors = {"baseline": "tab:red", "regularized": "tab:blue"}
    for ax, key, label in panels:
        for name, h in histories.items():
            epochs = range(1, len(h[key]) + 1)
            first_bad = _first_non_finite(h[key])
            run_label = (
                name if first_bad is None else f"{name} (nan/inf from epoch {first_bad + 1})"
            )
            ax.plot(epochs, h[key], marker="o", label=run_label, color=colors.get(name))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax = axes[1, 1]
    for name, h in histories.items():
        first_bad = _first_non_finite(h["grad_norm"])
        run_label = f"{name} (before clipping)"
        if first_bad is not None:
            run_label += f", nan/inf from step {first_bad}"
        ax.plot(h["grad_norm"], lw=0.8, label=run_label, color=colors.get(name))
    if max_norm is not None:
        ax.axhline(max_norm, ls="--", color="black", lw=1, label=f"clip threshold = {max_norm:g}")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_title("total gradient 2-norm per step")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class ExperimentFiles:
    """What ``report_experiment`` wrote."""

    figure: Path
    metrics: Path


def report_experiment(
    histories: Mapping[str, Mapping[str, Sequence[float]]], settings: ExperimentSettings
) -> ExperimentFiles:
    """Print the summary of both runs and write ``runs.png`` and ``metrics.json`` to ``out``.

    Inputs:
    - histories: as returned by ``compare_runs``.
    - settings: the experiment's settings (``max_norm`` and ``out`` are used).

    Returns:
    - The paths of the figure and of the metrics file.
    """
    out = Path(settings.out)
    print(format_summary(histories))
    print(clipping_summary(histories["regularized"], settings.max_norm))
    for verdict in run_verdicts(histories):
        print(verdict)
    figure = plot_runs(
        histories,
        max_norm=settings.max_norm,
        path=out / "runs.png",
        title=f"Baseline vs BatchNorm + gradient clipping (lr {settings.lr:g}, "
        f"clip at {settings.max_norm:g}, seed {settings.seed})",
    )
    metrics = save_metrics(histories, max_norm=settings.max_norm, path=out / "metrics.json")
    print(f"figure saved to {figure}, metrics to {metrics}")
    return ExperimentFiles(figure=figure, metrics=metrics)


# ------------------------------------------------------------------------------------------------
# check(): the public tests of one function, on the code of a notebook
# ------------------------------------------------------------------------------------------------

PUBLIC_TESTS = Path(__file__).resolve().parent / "tests" / "test_public.py"
# What check() accepts -> the prefix of the names of that function's tests in PUBLIC_TESTS
CHECKED_NAMES = {
    "add_batchnorm": "test_add_batchnorm",
    "compute_grad_norm": "test_compute_grad_norm",
    "clip_gradients": "test_clip_gradients",
    "compare_runs": "test_compare_runs",
    "ManualBatchNorm1d": "test_manual_batchnorm",
}


@dataclass(eq=False)  # pytest keeps its plugins in a set: hashed by identity
class _NotebookTestRun:
    """A pytest plugin: selects one function's tests and records what happened to each.

    tests/conftest.py gives the tests ``bngc_exercise_module`` (the notebook's code) instead of
    loading an exercise file.
    """

    bngc_exercise_module: types.ModuleType
    prefix: str
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # test -> (outcome, why)

    def pytest_collection_modifyitems(self, config: object, items: list) -> None:
        chosen = [item for item in items if item.name.startswith(self.prefix)]
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen

    def pytest_runtest_logreport(self, report: object) -> None:
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or report.outcome != "passed":
            self.outcomes.setdefault(name, (report.outcome, _reason(report)))


def _reason(report: object) -> str:
    """The first line of why a test failed or was skipped ("" when it passed)."""
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # a skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = (crash.message if crash is not None else str(longrepr)).strip()
    return text.splitlines()[0].removeprefix("AssertionError: ") if text else ""


def check(name: str, namespace: Mapping[str, object] | None = None) -> None:
    """Run the public tests of one function on the code you ran in this notebook.

    Prints one line per test (PASS, FAIL with the reason, or SKIP) and a total. The tests are
    the ones ``pytest tests`` runs on the whole file (tests/test_public.py).

    Inputs:
    - name: ``"add_batchnorm"``, ``"compute_grad_norm"``, ``"clip_gradients"``,
      ``"compare_runs"`` or ``"ManualBatchNorm1d"``.
    - namespace: where the functions are defined; by default the caller's globals (the
      notebook's).

    Raises:
    - ValueError: for a name that has no public tests.
    """
    import pytest

    if name not in CHECKED_NAMES:
        raise ValueError(f"check({name!r}): choose one of {', '.join(CHECKED_NAMES)}")
    if not PUBLIC_TESTS.is_file():
        print(f"check({name!r}): the public tests are not here ({PUBLIC_TESTS} is missing)")
        return
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    module = types.ModuleType("batchnorm_gradclip_exercise")
    module.__dict__.update(namespace)
    run = _NotebookTestRun(module, CHECKED_NAMES[name])
    args = [str(PUBLIC_TESTS), "-q", "-p", "no:cacheprovider", "-p", "no:faulthandler"]
    with contextlib.redirect_stdout(io.StringIO()) as log, contextlib.redirect_stderr(log):
        status = pytest.main([*args, "--capture=sys"], plugins=[run])
    if not run.outcomes:
        print(f"{name}: no public test ran (pytest exit status {status}):\n{log.getvalue()}")
        return
    counts = {kind: 0 for kind in ("passed", "failed", "skipped")}
    for outcome, _ in run.outcomes.values():
        counts[outcome] += 1
    summary = f"{name}: {counts['passed']} of {len(run.outcomes)} public tests passed"
    extra = [f"{counts[k]} {k}" for k in ("failed", "skipped") if counts[k]]
    print(summary + (f" ({', '.join(extra)})" if extra else ""))
    shown = set()
    for test, (outcome, why) in run.outcomes.items():
        label = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[outcome]
        reason = "the same as above" if why in shown else why
        shown.add(why)
        print(f"  {label} {test}" + (f": {reason}" if reason else ""))
