"""Tests of the instructor demo: solutions/batchnorm_gradclip_demo.py and solutions/demo/.

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
from solutions.demo import data as demo_data  # noqa: E402
from solutions.demo import diagnostics as demo_diagnostics  # noqa: E402
from solutions.demo import models as demo_models  # noqa: E402

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


def test_a_missing_bngc_demo_data_is_named_in_the_error(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """No --data-dir was given: the message must name the variable, not a flag never typed."""
    missing = tmp_path / "moved-away"
    monkeypatch.setenv("BNGC_DEMO_DATA", str(missing))
    code = demo.main(["--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: $BNGC_DEMO_DATA ({missing}) does not exist"), err
    assert "--data-dir" not in err and not (tmp_path / "o").exists()
    # an explicit --data-dir still wins over the variable, and is named as such
    monkeypatch.setenv("BNGC_DEMO_DATA", str(tmp_path))
    assert demo.main(["--data-dir", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith(f"error: --data-dir {missing} does not exist")


def test_a_corrupt_cache_file_is_decoded_again(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "data", n_train=2, n_test=1)
    cache = tmp_path / "cache"
    first = demo_data.load_image_folder(root / "train", cache_dir=cache)
    (cached,) = sorted(cache.glob("train-*.pt"))
    cached.write_bytes(b"not a torch file")
    again = demo_data.load_image_folder(root / "train", cache_dir=cache)
    assert torch.equal(first.images, again.images)
    assert torch.load(cached, map_location="cpu", weights_only=True)["labels"].tolist() == (
        first.labels.tolist()
    )


def test_balanced_subset_is_balanced_and_reproducible() -> None:
    labels = torch.arange(10).repeat_interleave(50)  # 10 classes x 50
    idx = demo_data.balanced_subset(labels, n=120, generator=torch.Generator().manual_seed(3))
    counts = torch.bincount(labels[idx], minlength=10)
    assert len(idx) == 120 and len(set(idx.tolist())) == 120
    assert counts.max() - counts.min() <= 1
    again = demo_data.balanced_subset(labels, n=120, generator=torch.Generator().manual_seed(3))
    assert torch.equal(idx, again)


@pytest.mark.parametrize("n", [0, -3])
def test_an_empty_or_negative_subset_is_a_clear_error(n: int) -> None:
    """n=0 used to die in torch.stack on an empty list; n=-3 silently dropped 3 samples."""
    labels = torch.arange(3).repeat_interleave(4)
    with pytest.raises(ValueError, match=f"at least 1 sample, got n={n}"):
        demo_data.balanced_subset(labels, n=n, generator=torch.Generator().manual_seed(0))


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
    torch.manual_seed(0)  # the std check below is statistical (216 weights): fix the draw
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
    # the first step of the baseline, recomputed directly: compare_runs seeds, builds the model,
    # then draws the first shuffled batch, so the same three lines give the same gradients
    torch.manual_seed(kwargs["seed"])
    model = make()
    x, y = next(iter(train))
    nn.functional.cross_entropy(model(x), y).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    base = rec.runs["baseline"]
    for layer, trace in zip(linears, base.weights, strict=True):
        g, w = layer.weight.grad, layer.weight.detach()
        assert trace.grad_norm[0] == pytest.approx(g.norm().item(), rel=1e-5)
        assert trace.grad_to_data[0] == pytest.approx((g.std() / w.std()).item(), rel=1e-5)
    # weights and biases together make up the total norm compare_runs recorded for that step
    total = math.sqrt(
        sum(t.grad_norm[0] ** 2 for t in base.weights)
        + sum(layer.bias.grad.norm().item() ** 2 for layer in linears)
    )
    assert total == pytest.approx(plain["baseline"]["grad_norm"][0], rel=1e-5)
    # BatchNorm keeps the activations of the first step unit-scale before the tanh
    reg_first_std = [a.std[0] for a in rec.runs["regularized"].activations]
    assert min(reg_first_std) > 0.5
    # the hooks are gone afterwards
    model = watched["baseline"]["model"]
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())


def _global_hook_counts() -> dict[str, int]:
    from torch.nn.modules import module as module_hooks
    from torch.optim import optimizer as optimizer_hooks

    return {
        "forward_pre": len(module_hooks._global_forward_pre_hooks),
        "forward": len(module_hooks._global_forward_hooks),
        "optimizer_pre": len(optimizer_hooks._global_optimizer_pre_hooks),
        "optimizer_post": len(optimizer_hooks._global_optimizer_post_hooks),
    }


def test_recorded_norms_and_ratios_match_a_direct_computation_before_clipping() -> None:
    """Several steps of a hand-written loop with momentum and clipping: every recorded number is
    recomputed directly from the gradients, before the clipping rescales them."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    x, y = torch.randn(4, 16, 12), torch.randint(0, 3, (4, 16))
    expected_norms, expected_ratios, expected_updates = [], [], []
    with demo_diagnostics.DiagnosticsRecorder(["run"]) as rec:
        for step in range(4):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[step]), y[step]).backward()
            expected_norms.append([m.weight.grad.norm().item() for m in linears])
            expected_ratios.append(
                [(m.weight.grad.std() / m.weight.detach().std()).item() for m in linears]
            )
            assert nn.utils.clip_grad_norm_(model.parameters(), 0.05) > 0.05  # really clipped
            before = [m.weight.detach().clone() for m in linears]
            opt.step()
            expected_updates.append(
                [
                    math.log10(((m.weight.detach() - b).std() / b.std()).item())
                    for m, b in zip(linears, before, strict=True)
                ]
            )
    run = rec.runs["run"]
    assert run.steps == 4
    for i, trace in enumerate(run.weights):
        assert trace.grad_norm == pytest.approx([e[i] for e in expected_norms], rel=1e-5)
        assert trace.grad_to_data == pytest.approx([e[i] for e in expected_ratios], rel=1e-5)
        assert trace.log10_update_to_data == pytest.approx(
            [e[i] for e in expected_updates], abs=1e-4
        )


def test_global_hooks_are_removed_after_the_run_even_after_an_error() -> None:
    before = _global_hook_counts()
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
    with demo_diagnostics.DiagnosticsRecorder(["a"]) as rec:
        during = _global_hook_counts()
        model(torch.randn(3, 4)).sum().backward()
    assert all(during[k] == before[k] + 1 for k in before), (before, during)
    assert _global_hook_counts() == before
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())
    assert len(rec.runs["a"].activations[0].mean) == 1  # it did record while installed
    with pytest.raises(RuntimeError, match="boom"), demo_diagnostics.DiagnosticsRecorder(["b"]):
        model(torch.randn(3, 4))
        raise RuntimeError("boom")
    assert _global_hook_counts() == before
    assert all(not m._forward_hooks for m in model.modules())


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


def test_the_gradient_snapshot_is_the_first_steps() -> None:
    """dL/d(activation) is sampled once, at the first step; its std is recorded at every step."""
    import copy

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    x, y = torch.randn(3, 5, 4), torch.randint(0, 2, (3, 5))
    twin = copy.deepcopy(model)  # the first step by hand, outside the recorder
    act = twin[1](twin[0](x[0]))
    act.retain_grad()
    nn.functional.cross_entropy(twin[2](act), y[0]).backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with demo_diagnostics.DiagnosticsRecorder(["run"]) as rec:
        for step in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[step]), y[step]).backward()
            opt.step()
    (trace,) = rec.runs["run"].activations
    assert len(trace.grad_std) == 3
    assert torch.allclose(trace.first_grad_sample, act.grad.reshape(-1))
    assert trace.grad_std[0] == pytest.approx(act.grad.std().item(), rel=1e-5)


def _trace_with(
    kind: str, first: torch.Tensor, last: torch.Tensor
) -> demo_diagnostics.ActivationTrace:
    trace = demo_diagnostics.ActivationTrace("layer 1 (ReLU)", kind, saturated=[0.0, 0.0])
    trace.first_sample, trace.last_sample = first, last
    trace.first_grad_sample = first - first.mean()
    return trace


def test_histograms_count_every_value_and_the_figure_draws_the_json_numbers() -> None:
    """A long ReLU tail: no bin may collect clamped outliers (the old false spike at the right
    end), nothing may be dropped, and the plotted curve is the JSON histogram, normalised."""
    plt = demo_diagnostics._pyplot()
    g = torch.Generator().manual_seed(0)
    bulk = torch.rand(990, generator=g)  # in [0, 1)
    # 1 % far out, above the 99th percentile (and away from bin edges: float32 vs float64)
    tail = torch.tensor([5.1, 7.3, 9.9, 12.2, 15.1, 18.5, 22.4, 27.5, 33.1, 40.0])
    first = torch.cat([bulk, tail, torch.tensor([float("nan")])])
    last = torch.cat([bulk * 2, torch.zeros(10)])
    runs = {
        name: demo_diagnostics.RunDiagnostics(name, [_trace_with("relu", first, last)], [])
        for name in ("baseline", "regularized")
    }
    entry = demo_diagnostics.diagnostics_to_dict(runs)["baseline"]["activations"][0]
    lo, hi = entry["histogram_range"]
    assert lo == 0.0 and hi == pytest.approx(40.0)
    counts = entry["histogram_first_step"]
    assert len(counts) == demo_diagnostics.HIST_BINS
    assert sum(counts) == entry["histogram_first_step_values"] == 1000
    assert entry["histogram_first_step_non_finite"] == 1
    expected, _ = np.histogram(first[:-1].numpy(), bins=len(counts), range=(lo, hi))
    assert counts == expected.tolist()
    assert counts[-1] == 1  # only the value 40 itself, not the whole clamped tail
    assert sum(entry["histogram_last_step"]) == 1000
    assert sum(entry["grad_histogram_first_step"]) == entry["grad_histogram_first_step_values"]
    fig, ax = plt.subplots()
    demo_diagnostics._hist_panel(
        ax, runs["baseline"].activations, which="first", lo=lo, hi=hi, title="t"
    )
    drawn = ax.lines[0].get_ydata()
    plt.close(fig)
    assert np.allclose(drawn, np.array(counts) / 1000)
    assert "nan/inf" in ax.get_legend().get_texts()[0].get_text()


def test_histogram_ranges_cover_the_data_and_tanh_is_fixed() -> None:
    t = torch.tensor([0.0, 3.0, float("inf"), 7.5])
    assert demo_diagnostics.histogram_range([t, None], "relu") == (0.0, 7.5)
    assert demo_diagnostics.histogram_range([t * -1], "grad") == (-7.5, 7.5)
    assert demo_diagnostics.histogram_range([t], "tanh") == (-1.0, 1.0)
    assert demo_diagnostics.histogram_range([torch.tensor([float("nan")])], "relu") == (0.0, 1.0)
    with pytest.raises(ValueError, match="kind"):
        demo_diagnostics.histogram_range([t], "gelu")


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


def _weights(config: demo.DemoConfig) -> int:
    make = demo_models.model_factory(
        config.arch,
        (3, 32, 32),
        10,
        depth=config.depth,
        width=config.width,
        activation=config.activation,
    )
    return sum(p.numel() for p in make().parameters())


def test_the_cnn_gets_its_own_default_width() -> None:
    """The MLP's 256 units as first-block channels would be 15.5 M weights: hopeless on a CPU."""
    parser = demo.build_parser()
    cnn = demo.config_from_args(parser.parse_args(["--arch", "cnn"]))
    assert cnn.width == demo_models.DEFAULT_WIDTH["cnn"] <= 32
    assert _weights(cnn) < 300_000
    assert demo.config_from_args(parser.parse_args(["--arch", "cnn", "--width", "8"])).width == 8
    assert demo.config_from_args(parser.parse_args([])).width == 256
    dramatic = demo.config_from_args(parser.parse_args(["--dramatic", "--arch", "cnn"]))
    assert dramatic.width == cnn.width and _weights(dramatic) < 1_000_000


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--subset", "0"], "argument --subset: must be at least 1, got 0"),
        (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--epochs", "two"], "argument --epochs: expected a whole number, got 'two'"),
        (["--batch-size", "-4"], "argument --batch-size: must be at least 1"),
        (["--n-val", "0"], "argument --n-val: must be at least 1"),
        (["--depth", "0"], "argument --depth: must be at least 1"),
        (["--width", "0"], "argument --width: must be at least 1"),
        (["--lr", "-0.1"], "argument --lr: must be a finite number > 0, got -0.1"),
        (["--lr", "0"], "argument --lr: must be a finite number > 0"),
        (["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
        (["--max-norm", "-1"], "argument --max-norm: must be a finite number > 0"),
        (["--max-norm", "inf"], "argument --max-norm: must be a finite number > 0"),
        (["--init-gain", "0"], "argument --init-gain: must be a finite number > 0"),
        (["--subset", "100"], "--subset 100 is smaller than --batch-size 128"),
        (["--subset", "64", "--batch-size", "65"], "--subset 64 is smaller than --batch-size 65"),
        (["--dramatic", "--subset", "10"], "with the dramatic preset's values"),
    ],
)
def test_bad_numbers_are_refused_with_one_clear_line(
    tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        demo.main([*flags, "--out", str(out), "--no-progress"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("batchnorm_gradclip_demo.py: error: ") or "error: " in last
    assert message in last, err
    assert not out.exists()  # refused before anything was loaded or written


def test_too_few_images_for_one_batch_is_a_clear_error(
    toy_dir: Path, tmp_path: Path, capsys
) -> None:
    """--subset passes the check, but the folder holds only 48 training images."""
    args = ["--data-dir", str(toy_dir), "--subset", "100", "--batch-size", "64", "--no-cache"]
    assert demo.main([*args, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: only 48 training images for batch size 64"), err
    assert not (tmp_path / "o").exists()


def test_format_summary_is_nan_aware() -> None:
    from solutions.exercise_utils import format_summary

    nan, inf = float("nan"), float("inf")
    histories = {
        # nan sorts anywhere: the old table printed 3.00 as the largest norm of this run
        "baseline": {
            "train_loss": [2.3, nan],
            "val_loss": [2.3, nan],
            "val_acc": [0.1, 0.1],
            "grad_norm": [1.0, 5.0, nan, 3.0, inf, 2.0],
        },
        "exploded": {
            "train_loss": [2.3, 9.0],
            "val_loss": [2.3, 9.0],
            "val_acc": [0.1, 0.1],
            "grad_norm": [1.0, inf, 2.0],
        },
        "regularized": {
            "train_loss": [2.0, 1.5],
            "val_loss": [2.1, 1.7],
            "val_acc": [0.3, 0.4],
            "grad_norm": [4.0, 1.0, 2.0],
        },
    }
    lines = format_summary(histories).splitlines()
    base, exploded, reg = (line.split() for line in lines[1:4])
    assert base[0] == "baseline" and base[4:] == ["nan", "3.00"]  # median of 1, 2, 3, 5
    assert exploded[4:] == ["inf", "2.00"]
    assert reg[4:] == ["4.00", "2.00"]
    assert lines[4:] == [
        "baseline: 2 of 6 gradient norms are inf/nan (the run diverged); its median |g| is over "
        "the 4 finite ones",
        "exploded: 1 of 3 gradient norms are inf/nan (the run diverged); its median |g| is over "
        "the 2 finite ones",
    ]


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


def test_summary_table_and_verdict_agree_on_the_largest_norm() -> None:
    """Both print the first inf / nan of a diverged run: the table once said nan where the
    verdict printed right under it said inf."""
    from solutions.exercise_utils import format_summary

    nan, inf = float("nan"), float("inf")
    for norms, expected in (([1.0, inf, nan], "inf"), ([1.0, nan, inf], "nan")):
        history = {
            "train_loss": [2.3, nan],
            "val_loss": [2.3, nan],
            "val_acc": [0.1, 0.1],
            "grad_norm": norms,
        }
        row = format_summary({"baseline": history}).splitlines()[1].split()
        o = demo.outcome(history, max_norm=1.0, num_classes=10)
        assert row[4] == f"{o.max_grad_norm:.2f}" == expected, (norms, row)


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


def _shared_subset() -> Path:
    data_dir = demo_data.SHARED_CIFAR10
    if not data_dir.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {data_dir}")
    return data_dir


@pytest.mark.slow
def test_demo_on_the_shared_cifar10_subset(tmp_path: Path, monkeypatch) -> None:
    data_dir = _shared_subset()
    monkeypatch.delenv("BNGC_DEMO_DATA", raising=False)  # the default lookup is what is tested
    out = tmp_path / "out"
    config = demo.config_from_args(
        demo.build_parser().parse_args(
            ["--subset", "1280", "--n-val", "500", "--epochs", "1", "--out", str(out), "--no-cache"]
        )
    )
    assert config.data_dir == str(data_dir) and config.data_origin == "the shared subset"
    result = demo.run_demo(config, progress=False)
    _check_outputs(out, epochs=1, steps_per_epoch=10)
    assert result.outcomes["regularized"].final_val_acc > 0.2  # 10 classes: chance is 0.1
    assert not result.outcomes["regularized"].diverged


@pytest.mark.slow
def test_the_dramatic_story_on_the_shared_cifar10_subset(tmp_path: Path) -> None:
    """The live demo's point, on real images: the dramatic preset's baseline blows up while the
    BatchNorm + clipping run learns. A reduced run (3,000 images, 2 epochs, 46 steps per run)
    keeps the story: measured with seeds 0 / 2, the baseline's training loss reaches 23.0 / 23.8
    (the divergence line is 2 ln 10 = 4.6) and the regularized run 31 % / 25 % accuracy."""
    data_dir = _shared_subset()
    out = tmp_path / "out"
    args = ["--dramatic", "--data-dir", str(data_dir), "--subset", "3000", "--n-val", "500"]
    args += ["--epochs", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    config = demo.config_from_args(demo.build_parser().parse_args(args))
    assert (config.depth, config.activation, config.lr) == (8, "tanh", 0.2)  # the preset's own
    result = demo.run_demo(config, progress=False)
    base, reg = result.outcomes["baseline"], result.outcomes["regularized"]
    assert base.diverged, base
    assert base.final_train_loss > 3 * math.log(10) or base.non_finite, base
    assert not reg.diverged and reg.final_val_acc > 0.2, reg  # chance is 0.1
    assert reg.max_grad_norm < base.max_grad_norm or not math.isfinite(base.max_grad_norm)
    _check_outputs(out, epochs=2, steps_per_epoch=3000 // 128)


def test_diagnostics_summary_pairs_each_activation_with_its_layers_updates() -> None:
    act = demo_diagnostics.ActivationTrace
    weight = demo_diagnostics.WeightTrace
    run = demo_diagnostics.RunDiagnostics(
        "baseline",
        [
            act("layer 1 (Tanh)", "tanh", saturated=[0.5, 0.25]),
            act("layer 2 (Tanh)", "tanh", saturated=[0.0, 0.125]),
        ],
        [
            weight("layer 1: Linear 4->8", log10_update_to_data=[-1.0] * 8 + [-2.5, -2.25]),
            weight("layer 2: Linear 8->8", log10_update_to_data=[-4.0] * 9 + [-3.5]),
            weight("output: Linear 8->2", log10_update_to_data=[0.0] * 10),
        ],
    )
    lines = demo_diagnostics.format_diagnostics_summary({"baseline": run}).splitlines()
    assert [line.split()[-3:] for line in lines[1:]] == [
        ["50.0%", "25.0%", "-2.25"],  # upper median of the last 20 % (2 of 10 steps)
        ["0.0%", "12.5%", "-3.50"],
    ]


def test_saturation_of_a_diverged_layer_is_nan_not_dead() -> None:
    nans = torch.full((4, 3), float("nan"))
    assert math.isnan(demo_diagnostics.saturated_fraction(nans, "relu"))
    assert math.isnan(demo_diagnostics.saturated_fraction(nans, "tanh"))


def test_plot_runs_says_where_a_run_became_nan(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    from solutions.exercise_utils import plot_runs

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    nan = float("nan")
    histories = {
        "baseline": {
            "train_loss": [2.3, nan, nan],
            "val_loss": [2.3, nan, nan],
            "val_acc": [0.1, 0.1, 0.1],
            "grad_norm": [1.0, 3e4, float("inf"), nan],
        },
        "regularized": {
            "train_loss": [2.2, 2.0, 1.9],
            "val_loss": [2.2, 2.1, 2.0],
            "val_acc": [0.2, 0.3, 0.3],
            "grad_norm": [2.0, 1.0, 1.5, 1.2],
        },
    }
    path = plot_runs(histories, max_norm=1.0, path=tmp_path / "runs.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    (fig,) = figures
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert legends[0] == ["baseline (nan/inf from epoch 2)", "regularized"]
    assert legends[3][:2] == [
        "baseline (before clipping), nan/inf from step 2",
        "regularized (before clipping)",
    ]
    monkeypatch.undo()
    plt.close(fig)
