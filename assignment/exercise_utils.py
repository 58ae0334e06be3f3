"""Helpers for the BatchNorm & gradient clipping exercise: data, progress and plots.

You do not need to edit this file. It gives `batchnorm_gradclip_exercise.py` three things:

* Fashion-MNIST as tensors and DataLoaders (`fashion_mnist_loaders`), found on disk or downloaded,
* `ProgressLoader`, a DataLoader wrapper that draws a progress bar while your loop iterates it,
* `plot_runs` / `format_summary`, the figure and table that compare the baseline with the
  regularized run.

Where the data comes from, in this order:

1. ``$FASHION_MNIST_ROOT`` or the ``root`` you pass (default: ``data/`` beside this file), laid
   out as torchvision expects: ``<root>/FashionMNIST/raw/train-images-idx3-ubyte`` and friends;
2. the four ``*.gz`` files of the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``), decompressed into that layout;
3. torchvision's own download (needs the internet).
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
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

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_ROOT = Path(__file__).resolve().parent / "data"

# file name -> (magic number, number of items) of the official IDX files
_IDX_FILES = {
    "train-images-idx3-ubyte": (2051, 60000),
    "train-labels-idx1-ubyte": (2049, 60000),
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
    """Make sure ``<root>/FashionMNIST/raw`` holds the four IDX files; return the root.

    Raises:
        FashionMNISTUnavailable: with a message that says where the files were looked for.
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

    Returns:
        images: uint8 tensor of shape (N, 28, 28), N = 60,000 (train) or 10,000 (test)
        labels: int64 tensor of shape (N,), class indices 0..9
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
    n_val: int = 2000,
    batch_size: int = 128,
    seed: int = 0,
    root: str | os.PathLike | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation DataLoaders on disjoint random subsets of the training split.

    The subsets are drawn with their own generator (``seed``), so they are the same on every run;
    the training loader reshuffles every epoch with torch's global random state, so seeding
    before training fixes the order too.
    """
    images, labels = load_fashion_mnist(root, train=True)
    if n_train + n_val > len(images):
        raise ValueError(f"n_train + n_val = {n_train + n_val} > {len(images)} training images")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = perm[:n_train], perm[n_train : n_train + n_val]
    x = normalize_images(images)
    train = TensorDataset(x[train_idx], labels[train_idx])
    val = TensorDataset(x[val_idx], labels[val_idx])
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=512, shuffle=False),
    )


class ProgressLoader:
    """Wraps a DataLoader and shows a progress bar while it is iterated; ``len()`` is unchanged.

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
        # disable=None: no bar when the output is not a terminal (CI logs, notebooks' stderr)
        yield from tqdm(self.loader, desc=desc, leave=False, disable=None, mininterval=0.5)


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

    Args:
        histories: ``{"baseline": {...}, "regularized": {...}}`` as returned by ``compare_runs``
            (the ``"model"`` entries are ignored).
        max_norm: the clipping threshold, drawn as a dashed line on the gradient-norm panel.
        path: where to write the PNG.
    Returns:
        The path written.
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
