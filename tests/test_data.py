"""Fashion-MNIST: found, decompressed into torchvision's layout, or a clear error."""

from __future__ import annotations

import gzip
import shutil

import pytest

from autograder.grading.data import exercise_utils

utils = exercise_utils()
NAMES = [
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
]


def test_missing_data_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(utils.FashionMNISTUnavailable) as err:
        utils.prepare_fashion_mnist(tmp_path / "root", download=False)
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "FASHION_MNIST_ROOT" in message and "train-images-idx3-ubyte" in message


def test_corrupt_files_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "DEBIAN_DIR", tmp_path / "no-debian")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in NAMES:
        (raw / name).write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"))
    with pytest.raises(utils.FashionMNISTUnavailable, match="not the expected IDX file"):
        utils.prepare_fashion_mnist(tmp_path, download=False)


@pytest.mark.skipif(not utils.DEBIAN_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_debian_files_are_decompressed_into_torchvision_layout(tmp_path):
    root = utils.prepare_fashion_mnist(tmp_path, download=False)
    for name in NAMES:
        assert (root / "FashionMNIST" / "raw" / name).exists()
    images, labels = utils.load_fashion_mnist(root, train=False)
    assert tuple(images.shape) == (10000, 28, 28) and labels.max().item() == 9


@pytest.mark.skipif(not utils.DEBIAN_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_gz_files_in_the_root_are_used_too(tmp_path, monkeypatch):
    for name in NAMES:
        shutil.copy(utils.DEBIAN_DIR / f"{name}.gz", tmp_path / f"{name}.gz")
    monkeypatch.setattr(utils, "DEBIAN_DIR", tmp_path / "no-debian")
    root = utils.prepare_fashion_mnist(tmp_path, download=False)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz") as f:
        assert (root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").read_bytes() == f.read()
