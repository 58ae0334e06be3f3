"""Tests of the instructor demo (solutions/batchnorm_gradclip_demo.py and its demo_* modules).

Most run on a tiny ImageFolder generated in tmp_path; one end-to-end run uses the shared CIFAR-10
subset (skipped, with the reason, when that directory is absent).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from solutions import batchnorm_gradclip_demo as demo  # noqa: E402
from solutions import batchnorm_gradclip_exercise as reference  # noqa: E402
from solutions import demo_data, demo_diagnostics, demo_models  # noqa: E402

CLASSES = ("apple", "boat", "cloud")
COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200))


def write_image_folder(
    root: Path, n_train: int = 16, n_test: int = 6, classes=CLASSES, size: int = 32
) -> Path:
    """A learnable toy ImageFolder: each class is a noisy image around its own colour.

    Train images are PNG, test images JPEG; every 5th train image is 24x20 (to be resized)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = (24, 20) if split == "train" and i % 5 == 4 else (size, size)
                pixels = np.array(COLOURS[c % len(COLOURS)]) + rng.normal(0, 30, (h, w, 3))
                img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
                if split == "train":
                    img.save(folder / f"{i:04d}.png")
                else:
                    img.save(folder / f"{i:04d}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("toy"))


def tiny_loaders(n: int = 48, batch: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    ds = torch.utils.data.TensorDataset(x, y)
    return (
        torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True),
        torch.utils.data.DataLoader(ds, batch_size=n),
    )


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def test_load_image_folder_shapes_labels_and_resizing(toy_dir: Path) -> None:
    split = demo_data.load_image_folder(toy_dir / "train", image_size=32, cache_dir=None)
    assert split.classes == list(CLASSES)
    assert split.images.shape == (3 * 16, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.tolist() == [0] * 16 + [1] * 16 + [2] * 16
    # the class colour survives decoding: the red class is reddest on average
    means = torch.stack([split.images[split.labels == c].float().mean((0, 2, 3)) for c in range(3)])
    assert means.argmax(dim=1).tolist() == [0, 1, 2]


def test_decoded_images_are_cached_and_the_cache_follows_the_files(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "data", n_train=3, n_test=2)
    cache = tmp_path / "cache"
    first = demo_data.load_image_folder(root / "train", cache_dir=cache)
    files = list(cache.glob("train-*.pt"))
    assert len(files) == 1
    again = demo_data.load_image_folder(root / "train", cache_dir=cache)
    assert torch.equal(first.images, again.images) and again.classes == first.classes
    # a changed image set gets a new cache entry, not the stale tensor
    Image.new("RGB", (32, 32), (255, 255, 255)).save(root / "train" / "apple" / "9999.png")
    changed = demo_data.load_image_folder(root / "train", cache_dir=cache)
    assert len(changed.images) == len(first.images) + 1
    assert len(list(cache.glob("train-*.pt"))) == 2


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "does not exist"),
        ("no_classes", "no class folders"),
        ("empty_class", "holds no images"),
        ("mismatch", "different class folders"),
    ],
)
def test_bad_data_dir_gives_one_clear_error(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "data"
    if layout != "missing":
        write_image_folder(root, n_train=2, n_test=2)
    if layout == "no_classes":
        for d in (root / "train").iterdir():
            for f in d.iterdir():
                f.unlink()
            d.rmdir()
    elif layout == "empty_class":
        (root / "train" / "zebra").mkdir()
        (root / "test" / "zebra").mkdir()
    elif layout == "mismatch":
        (root / "test" / "zebra").mkdir()
        Image.new("RGB", (32, 32)).save(root / "test" / "zebra" / "0.png")
    with pytest.raises(demo_data.DemoDataError, match=message):
        demo_data.load_demo_data(root, n_train=None, n_val=None, cache_dir=None)


def test_main_reports_a_bad_data_dir_without_a_traceback(tmp_path: Path, capsys) -> None:
    code = demo.main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and "Traceback" not in err


def test_balanced_subset_is_balanced_and_reproducible() -> None:
    labels = torch.arange(10).repeat_interleave(50)  # 10 classes x 50
    idx = demo_data.balanced_subset(labels, 120, torch.Generator().manual_seed(3))
    counts = torch.bincount(labels[idx], minlength=10)
    assert len(idx) == 120 and len(set(idx.tolist())) == 120
    assert counts.max() - counts.min() <= 1
    again = demo_data.balanced_subset(labels, 120, torch.Generator().manual_seed(3))
    assert torch.equal(idx, again)


def test_standardize_uses_training_statistics() -> None:
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (64, 3, 4, 4), generator=g, dtype=torch.uint8)
    val = torch.randint(0, 256, (8, 3, 4, 4), generator=g, dtype=torch.uint8)
    x_train, x_val = demo_data.standardize(train, val)
    assert torch.allclose(x_train.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x_train.std((0, 2, 3)), torch.ones(3), atol=1e-4)
    assert x_val.shape == val.shape and not torch.allclose(x_val.mean((0, 2, 3)), torch.zeros(3))


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", demo_models.ARCHITECTURES)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_models_work_with_add_batchnorm(arch: str, activation: str) -> None:
    make = demo_models.model_factory(
        arch, (3, 32, 32), 10, depth=3, width=8, activation=activation, init_gain=5 / 3
    )
    model = make()
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    act = demo_models.ACTIVATIONS[activation]
    assert sum(isinstance(m, act) for m in model) == 3
    bn = reference.add_batchnorm(model)
    assert sum(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in bn) == 3
    assert bn(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    first = next(m for m in model if isinstance(m, nn.Linear | nn.Conv2d))
    fan_in = first.weight[0].numel()
    assert first.weight.std().item() == pytest.approx(5 / 3 / math.sqrt(fan_in), rel=0.15)


def test_model_factory_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="architecture"):
        demo_models.model_factory("rnn", (3, 8, 8), 3, depth=1, width=4, activation="relu")
    with pytest.raises(ValueError, match="activation"):
        demo_models.model_factory("mlp", (3, 8, 8), 3, depth=1, width=4, activation="gelu")


# ------------------------------------------------------------------------------------------------
# diagnostics
# ------------------------------------------------------------------------------------------------


def test_saturation_measures() -> None:
    t = torch.tensor([[0.99, -0.98, 0.5, 0.0], [0.1, -0.999, 0.2, 0.96]])
    assert demo_diagnostics.saturated_fraction(t, "tanh") == pytest.approx(3 / 8)
    r = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # unit 0 never fires
    assert demo_diagnostics.saturated_fraction(r, "relu") == pytest.approx(1 / 3)
    conv = torch.zeros(2, 4, 3, 3)
    conv[1, 2, 0, 0] = 1.0  # only channel 2 is alive, at one position of one example
    assert demo_diagnostics.saturated_fraction(conv, "relu") == pytest.approx(3 / 4)


def test_ratios() -> None:
    w = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert demo_diagnostics.grad_to_data_ratio(w * 0.01, w) == pytest.approx(0.01)
    assert demo_diagnostics.log10_update_ratio(w, w * 1.001) == pytest.approx(-3.0, abs=1e-4)
    assert demo_diagnostics.log10_update_ratio(w, w.clone()) == float("-inf")
    assert len(demo_diagnostics.strided_sample(torch.zeros(100, 1000), 2000)) <= 2000


def _histories_without_models(h: dict) -> dict:
    return {run: {k: v for k, v in hist.items() if k != "model"} for run, hist in h.items()}


def test_recorder_watches_compare_runs_without_changing_it() -> None:
    make = demo_models.model_factory("mlp", (3, 8, 8), 3, depth=3, width=16, activation="tanh")
    train, val = tiny_loaders()
    kwargs = dict(epochs=2, lr=0.1, max_norm=0.5, seed=1)
    plain = reference.compare_runs(make, train, val, **kwargs)
    with demo_diagnostics.DiagnosticsRecorder(("baseline", "regularized")) as rec:
        watched = reference.compare_runs(make, train, val, **kwargs)
    # the hooks only watch: the runs are bit-for-bit the same
    assert _histories_without_models(watched) == _histories_without_models(plain)
    steps = 2 * len(train)
    assert list(rec.runs) == ["baseline", "regularized"]
    for run in rec.runs.values():
        assert run.steps == steps
        assert [a.label for a in run.activations] == [f"layer {i} (Tanh)" for i in (1, 2, 3)]
        assert len(run.weights) == 4 and run.weights[-1].label.startswith("output")
        for a in run.activations:
            assert len(a.mean) == len(a.std) == len(a.saturated) == len(a.grad_std) == steps
            assert a.first_sample is not None and a.first_grad_sample is not None
        for w in run.weights:
            assert len(w.grad_norm) == len(w.grad_to_data) == len(w.log10_update_to_data) == steps
    # per-layer weight-gradient norms are consistent with the total norm compare_runs records
    # (the regularized run also has BatchNorm parameters, so only the baseline adds up exactly)
    base = rec.runs["baseline"]
    for step in (0, steps - 1):
        per_layer = math.sqrt(sum(w.grad_norm[step] ** 2 for w in base.weights))
        assert per_layer <= plain["baseline"]["grad_norm"][step] + 1e-6
    # BatchNorm keeps the activations of the first step unit-scale before the tanh
    reg_first_std = [a.std[0] for a in rec.runs["regularized"].activations]
    assert min(reg_first_std) > 0.5
    # the hooks are gone afterwards
    model = watched["baseline"]["model"]
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())


def test_update_ratio_is_what_the_optimizer_did() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # no momentum: update = -lr * grad
    x, y = torch.randn(5, 12), torch.tensor([0, 1, 2, 0, 1])
    with demo_diagnostics.DiagnosticsRecorder(["only"]) as rec:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        w = model[1].weight
        expected_grad_norm = w.grad.norm().item()
        expected = math.log10((0.1 * w.grad).std().item() / w.detach().std().item())
        opt.step()
    trace = rec.runs["only"].weights[0]
    assert trace.grad_norm == [pytest.approx(expected_grad_norm)]
    assert trace.log10_update_to_data == [pytest.approx(expected, abs=1e-4)]


def test_dead_relus_are_counted() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].bias[:6] = -100.0  # 6 of 8 units can never fire
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    with demo_diagnostics.DiagnosticsRecorder(["r"]) as rec:
        nn.functional.cross_entropy(model(torch.randn(16, 4)), torch.zeros(16).long()).backward()
        opt.step()
    assert rec.runs["r"].activations[0].saturated[0] == pytest.approx(6 / 8)


def test_evaluation_passes_and_extra_models_are_ignored() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
    with demo_diagnostics.DiagnosticsRecorder(["a"]) as rec:
        with torch.no_grad():
            model(torch.randn(3, 4))
        model.eval()
        model(torch.randn(3, 4))
        assert rec.runs == {}
        model.train()
        model(torch.randn(3, 4))
        nn.Sequential(nn.Linear(4, 2))(torch.randn(3, 4))  # a second model: no name left
    assert list(rec.runs) == ["a"] and len(rec.runs["a"].activations[0].mean) == 1


# ------------------------------------------------------------------------------------------------
# the demo
# ------------------------------------------------------------------------------------------------


def test_presets_and_flags() -> None:
    parser = demo.build_parser()
    calm = demo.config_from_args(parser.parse_args([]))
    wild = demo.config_from_args(parser.parse_args(["--dramatic"]))
    assert calm.preset == "default" and wild.preset == "dramatic"
    assert wild.depth > calm.depth and wild.lr > calm.lr
    mine = demo.config_from_args(parser.parse_args(["--dramatic", "--lr", "0.01", "--no-cache"]))
    assert mine.lr == 0.01 and mine.depth == wild.depth and mine.cache_dir is None


def test_outcome_flags_divergence_and_strict_json() -> None:
    history = {
        "train_loss": [2.3, float("nan")],
        "val_loss": [2.3, float("nan")],
        "val_acc": [0.1, 0.1],
        "grad_norm": [1.0, 50.0, float("inf"), float("nan")],
    }
    o = demo.outcome(history, max_norm=1.0, num_classes=10)
    assert o.non_finite and o.diverged and o.stalled and o.clipped_steps == 3
    assert math.isinf(o.max_grad_norm)
    exploded = dict(history, train_loss=[2.3, 9.0], grad_norm=[1.0, 80.0])
    o = demo.outcome(exploded, max_norm=1.0, num_classes=10)
    assert o.diverged and not o.non_finite and o.max_grad_norm == 80.0
    text = json.dumps(demo.metrics_to_dict({"baseline": history}))
    assert json.loads(text)["baseline"]["grad_norm"] == [1.0, 50.0, None, None]


def _strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=reject)


def _check_outputs(out: Path, epochs: int, steps_per_epoch: int) -> dict:
    metrics = _strict_json(out / "metrics.json")
    assert set(metrics) == {"baseline", "regularized"}
    for run in metrics.values():
        assert set(run) == {"train_loss", "val_loss", "val_acc", "grad_norm"}
        assert len(run["train_loss"]) == len(run["val_loss"]) == len(run["val_acc"]) == epochs
        assert len(run["grad_norm"]) == epochs * steps_per_epoch
    diagnostics = _strict_json(out / "diagnostics.json")
    assert set(diagnostics["runs"]) == {"baseline", "regularized"}
    for name in ("curves", "activations", "gradients", "updates"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    return metrics


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_demo_end_to_end_on_a_tiny_image_folder(
    toy_dir: Path, tmp_path: Path, arch: str, capsys
) -> None:
    out = tmp_path / "out"
    args = ["--data-dir", str(toy_dir), "--arch", arch, "--depth", "2", "--width", "8"]
    args += ["--subset", "30", "--n-val", "12", "--batch-size", "10", "--epochs", "2"]
    args += ["--lr", "0.05", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert demo.main([*args, "--no-progress"]) == 0
    metrics = _check_outputs(out, epochs=2, steps_per_epoch=3)
    diagnostics = _strict_json(out / "diagnostics.json")
    assert diagnostics["config"]["arch"] == arch and diagnostics["config"]["subset"] == 30
    assert metrics["regularized"]["val_acc"][-1] > 0.5  # three colours are easy to tell apart
    printed = capsys.readouterr().out
    for word in ("baseline", "regularized", "val acc", "saturated", "metrics.json"):
        assert word in printed


def test_demo_runs_as_a_script_from_the_repo_root(toy_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "solutions/batchnorm_gradclip_demo.py", "--data-dir", str(toy_dir)]
    cmd += ["--subset", "20", "--n-val", "6", "--batch-size", "10", "--epochs", "1"]
    cmd += ["--depth", "2", "--width", "8", "--out", str(out), "--no-cache"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_outputs(out, epochs=1, steps_per_epoch=2)


def test_dramatic_divergence_is_detected_on_tiny_data(toy_dir: Path, tmp_path: Path) -> None:
    """A learning rate no plain network survives: the baseline must be flagged, not crash."""
    config = demo.config_from_args(
        demo.build_parser().parse_args(
            [
                *("--dramatic", "--data-dir", str(toy_dir), "--subset", "30", "--n-val", "12"),
                *("--batch-size", "10", "--epochs", "2", "--width", "16", "--lr", "50"),
                *("--out", str(tmp_path / "out"), "--no-cache"),
            ]
        )
    )
    result = demo.run_demo(config, progress=False)
    base, reg = result.outcomes["baseline"], result.outcomes["regularized"]
    assert base.diverged
    assert base.max_grad_norm > reg.max_grad_norm or not math.isfinite(base.max_grad_norm)
    _check_outputs(tmp_path / "out", epochs=2, steps_per_epoch=3)


@pytest.mark.slow
def test_demo_on_the_shared_cifar10_subset(tmp_path: Path) -> None:
    data_dir = demo_data.SHARED_CIFAR10
    if not data_dir.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {data_dir}")
    out = tmp_path / "out"
    config = demo.config_from_args(
        demo.build_parser().parse_args(
            ["--subset", "1280", "--n-val", "500", "--epochs", "1", "--out", str(out), "--no-cache"]
        )
    )
    assert config.data_dir == str(data_dir)  # found without --data-dir
    result = demo.run_demo(config, progress=False)
    _check_outputs(out, epochs=1, steps_per_epoch=10)
    assert result.outcomes["regularized"].final_val_acc > 0.2  # 10 classes: chance is 0.1
    assert not result.outcomes["regularized"].diverged
