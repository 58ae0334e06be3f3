"""Fashion-MNIST for the grader, through the same loader the students use."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import torch

from autograder.paths import ASSIGNMENT_DIR


@cache
def exercise_utils() -> ModuleType:
    """assignment/exercise_utils.py, imported by path (it is not part of the package)."""
    path = ASSIGNMENT_DIR / "exercise_utils.py"
    spec = importlib.util.spec_from_file_location("bngc_exercise_utils", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class DatasetUnavailable(RuntimeError):
    """Fashion-MNIST could not be loaded; the message says how to provide it."""


@dataclass(frozen=True)
class Splits:
    train_x: torch.Tensor  # uint8 (n_train, 28, 28)
    train_y: torch.Tensor  # int64 (n_train,)
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor  # uint8 (10000, 28, 28): the official test split, held out
    test_y: torch.Tensor


def grading_splits(*, n_train: int, n_val: int, seed: int, root: str | None = None) -> Splits:
    """Disjoint random training/validation subsets of the training split, plus the test split."""
    utils = exercise_utils()
    try:
        images, labels = utils.load_fashion_mnist(root, train=True)
        test_x, test_y = utils.load_fashion_mnist(root, train=False)
    except Exception as exc:  # FashionMNISTUnavailable or a corrupt file
        raise DatasetUnavailable(str(exc)) from exc
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[:n_train], perm[n_train : n_train + n_val]
    return Splits(images[tr], labels[tr], images[va], labels[va], test_x, test_y)


def standardise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), as the student process does it."""
    return exercise_utils().normalize_images(images)
