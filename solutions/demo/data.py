"""Image data for the instructor demo: an ImageFolder directory or torchvision's CIFAR-10.

The demo trains two small networks for a few epochs on a few thousand 32x32 images, so the whole
data set fits in memory: it is decoded ONCE into a uint8 tensor (N, 3, H, W) and then served by
``TensorDataset``/``DataLoader``, which is much faster than decoding JPEGs in every epoch. The
decoded tensor is cached (``~/.cache/bngc-demo`` by default) keyed on the file list, so a second
run starts in well under a second.

Layout expected under ``root`` (what ``torchvision.datasets.ImageFolder`` reads)::

    root/train/<class>/*.jpg|png|...
    root/test/<class>/*.jpg|png|...     (the same class folders)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
REPO_ROOT = Path(__file__).resolve().parents[2]  # solutions/demo/data.py -> the repository
# where the course's shared CIFAR-10 JPEG subset lives next to the repository
SHARED_CIFAR10 = REPO_ROOT.parent / "shared" / "data" / "cifar10-jpeg"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "bngc-demo"
DEFAULT_DOWNLOAD_ROOT = DEFAULT_CACHE_DIR / "torchvision"
CACHE_VERSION = 1


class DemoDataError(RuntimeError):
    """The data directory is missing or malformed, or CIFAR-10 cannot be downloaded."""


@dataclass
class ImageSplit:
    """One split held in memory."""

    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]


@dataclass
class DemoData:
    """Normalised train/validation tensors plus what the models need to know about them."""

    x_train: torch.Tensor  # float32 (N, 3, H, W), standardised per channel
    y_train: torch.Tensor  # int64 (N,)
    x_val: torch.Tensor  # float32 (M, 3, H, W)
    y_val: torch.Tensor  # int64 (M,)
    classes: list[str]
    source: str  # a human-readable description of where the images came from

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class DataLocation:
    """Where the images come from, and who said so (for error messages)."""

    path: Path | None  # an ImageFolder directory; None: torchvision's CIFAR10
    origin: str  # "--data-dir", "$BNGC_DEMO_DATA", "the shared subset" or "torchvision"

    def describe(self) -> str:
        """E.g. ``$BNGC_DEMO_DATA (/data/cifar)``: names the flag or variable that chose it."""
        if self.path is None:
            return "torchvision's CIFAR10"
        if self.origin == "--data-dir":
            return f"--data-dir {self.path}"
        return f"{self.origin} ({self.path})"


def find_data_dir(data_dir: str | os.PathLike | None = None) -> DataLocation:
    """The directory to read: ``data_dir`` if given, else ``$BNGC_DEMO_DATA`` if set, else the
    shared CIFAR-10 subset beside the repository if it is there, else torchvision's CIFAR10."""
    if data_dir is not None:
        return DataLocation(Path(data_dir), "--data-dir")
    env = os.environ.get("BNGC_DEMO_DATA")
    if env:
        return DataLocation(Path(env), "$BNGC_DEMO_DATA")
    if SHARED_CIFAR10.is_dir():
        return DataLocation(SHARED_CIFAR10, "the shared subset")
    return DataLocation(None, "torchvision")


def list_image_folder(split_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted folder names) and ``(file, class index)`` pairs of one split.

    Raises:
        DemoDataError: missing directory, no class folders, or a class folder without images.
    """
    if not split_dir.is_dir():
        raise DemoDataError(
            f"{split_dir} does not exist: expected an ImageFolder layout "
            "<data-dir>/train/<class>/<image> and <data-dir>/test/<class>/<image>."
        )
    classes = sorted(
        p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not classes:
        raise DemoDataError(
            f"{split_dir} has no class folders: expected {split_dir}/<class>/<image> "
            "(one sub-folder per class)."
        )
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files = sorted(
            f for f in (split_dir / name).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DemoDataError(
                f"class folder {split_dir / name} holds no images "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})."
            )
        samples += [(f, index) for f in files]
    return classes, samples


def decode_image(path: Path, image_size: int) -> torch.Tensor:
    """One image file -> uint8 (3, image_size, image_size), RGB (resized bilinearly if needed)."""
    try:
        with Image.open(path) as pil:
            rgb = pil.convert("RGB")
            if rgb.size != (image_size, image_size):
                rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb)  # (H, W, 3) uint8
    except Exception as exc:
        raise DemoDataError(f"cannot decode image {path}: {type(exc).__name__}: {exc}") from exc
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)


def _cache_key(split_dir: Path, samples: list[tuple[Path, int]], image_size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{split_dir.resolve()}|{image_size}".encode())
    for f, label in samples:
        st = f.stat()
        h.update(f"{f.relative_to(split_dir)}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def load_image_folder(
    split_dir: str | os.PathLike,
    *,
    image_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> ImageSplit:
    """Decode every image of one ImageFolder split into memory (cached on disk when allowed).

    Args:
        split_dir: ``<data-dir>/train`` or ``<data-dir>/test``.
        image_size: images of another size are resized (bilinear) to ``image_size`` squared.
        cache_dir: where to keep the decoded tensor; ``None`` disables the cache.
    """
    split_dir = Path(split_dir)
    classes, samples = list_image_folder(split_dir)
    cache_file = None
    if cache_dir is not None:
        cache_file = (
            Path(cache_dir) / f"{split_dir.name}-{_cache_key(split_dir, samples, image_size)}.pt"
        )
        if cache_file.exists():
            try:
                cached = torch.load(cache_file, map_location="cpu", weights_only=True)
                return ImageSplit(cached["images"], cached["labels"], list(cached["classes"]))
            except Exception:
                cache_file.unlink(missing_ok=True)  # corrupt or old cache: decode again
    images = torch.stack([decode_image(f, image_size) for f, _ in samples])  # (N, 3, S, S)
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)  # (N,)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        torch.save({"images": images, "labels": labels, "classes": classes}, tmp)
        tmp.replace(cache_file)
    return ImageSplit(images, labels, classes)


def load_torchvision_cifar10(root: str | os.PathLike, *, train: bool) -> ImageSplit:
    """CIFAR-10 through torchvision (downloads into ``root`` when not there yet)."""
    try:
        from torchvision.datasets import CIFAR10

        ds = CIFAR10(str(root), train=train, download=True)
    except Exception as exc:
        raise DemoDataError(
            f"no --data-dir given, $BNGC_DEMO_DATA not set, the shared subset ({SHARED_CIFAR10}) "
            f"is absent, and torchvision could not download CIFAR-10 into {root} "
            f"({type(exc).__name__}: {exc}).\n"
            "Pass --data-dir DIR with an ImageFolder layout (DIR/train/<class>/*.jpg, "
            "DIR/test/<class>/*.jpg), or connect to the internet once."
        ) from exc
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8
    return ImageSplit(images, torch.tensor(ds.targets, dtype=torch.long), list(ds.classes))


def balanced_subset(
    labels: torch.Tensor, *, n: int | None, generator: torch.Generator
) -> torch.Tensor:
    """Indices of ``n`` samples (all when ``None`` or too many), as equal per class as possible.

    Raises:
        ValueError: ``n`` below 1 (an empty subset would train or validate on nothing).
    """
    if n is not None and n < 1:
        raise ValueError(f"a subset needs at least 1 sample, got n={n}")
    if n is None or n >= len(labels):
        return torch.randperm(len(labels), generator=generator)
    num_classes = int(labels.max()) + 1
    per_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    # deal the classes out round-robin: the first n of that order are class balanced
    order = [idx[i] for i in range(max(map(len, per_class))) for idx in per_class if i < len(idx)]
    chosen = torch.stack(order[:n])
    return chosen[torch.randperm(len(chosen), generator=generator)]


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """uint8 images -> float32 standardised with the per-channel mean/std of ``train``."""
    x = train.float().div(255.0)  # (N, 3, H, W)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, 3, 1, 1)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return tuple((t.float().div(255.0) - mean) / std for t in (train, *others))


def load_demo_data(
    data_dir: str | os.PathLike | None,
    *,
    n_train: int | None,
    n_val: int | None,
    seed: int = 0,
    image_size: int = 32,
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    download_root: str | os.PathLike = DEFAULT_DOWNLOAD_ROOT,
    origin: str = "--data-dir",
) -> DemoData:
    """Training subset from the ``train`` split, validation subset from the ``test`` split.

    ``data_dir=None`` means torchvision's CIFAR-10 (downloaded into ``download_root``).
    ``origin`` names what chose ``data_dir`` in the error messages (see ``find_data_dir``).
    """
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            where = DataLocation(data_dir, origin).describe()
            raise DemoDataError(f"{where} does not exist or is not a directory.")
        train = load_image_folder(data_dir / "train", image_size=image_size, cache_dir=cache_dir)
        val = load_image_folder(data_dir / "test", image_size=image_size, cache_dir=cache_dir)
        if val.classes != train.classes:
            raise DemoDataError(
                f"{data_dir}/train and {data_dir}/test have different class folders: "
                f"{train.classes} vs {val.classes}."
            )
        source = str(data_dir)
    else:
        train = load_torchvision_cifar10(download_root, train=True)
        val = load_torchvision_cifar10(download_root, train=False)
        source = f"torchvision CIFAR10 ({download_root})"
    gen = torch.Generator().manual_seed(seed)
    train_idx = balanced_subset(train.labels, n=n_train, generator=gen)
    val_idx = balanced_subset(val.labels, n=n_val, generator=gen)
    x_train, x_val = standardize(train.images[train_idx], val.images[val_idx])
    return DemoData(
        x_train, train.labels[train_idx], x_val, val.labels[val_idx], train.classes, source
    )


def make_loaders(data: DemoData, *, batch_size: int) -> tuple[DataLoader, DataLoader]:
    """Shuffled training loader (global RNG, so seeding fixes the order) and a validation loader.

    The training loader drops the last incomplete batch: a batch of a few images has a much
    noisier gradient, and its norm would show up as a spike once per epoch in every plot.

    Raises:
        DemoDataError: fewer training images than ``batch_size`` (no training step at all).
    """
    if len(data.x_train) < batch_size:
        raise DemoDataError(
            f"only {len(data.x_train)} training images for batch size {batch_size}: the "
            "incomplete last batch is dropped, so no training step would run. Use a smaller "
            "--batch-size or more images."
        )
    train = DataLoader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
    )
    val = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=1000, shuffle=False)
    return train, val
