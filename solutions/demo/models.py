"""The two networks of the instructor demo, as flat ``nn.Sequential`` so ``add_batchnorm`` applies.

* ``mlp``: Flatten, then ``depth`` hidden Linear/activation pairs of ``width`` units, then the
  output Linear (the Fashion-MNIST exercise's network, for colour images).
* ``cnn``: ``depth`` blocks of Conv3x3/activation (a 2x2 max-pool after each of the first blocks
  while the image is larger than 4x4), then Flatten and the output Linear; the channels are
  ``width``, ``2 * width``, then ``4 * width`` for every further block.

Weights keep PyTorch's default initialisation unless ``init_gain`` is given, in which case every
weight is redrawn from N(0, (init_gain / sqrt(fan_in))^2), biases zero (Kaiming-style; 5/3 is the
recommended gain for tanh, sqrt(2) for ReLU).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch.nn as nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
ARCHITECTURES = ("mlp", "cnn")
# ``--width`` when it is not given: hidden units of the MLP, first-block channels of the CNN. The
# CNN doubles its channels twice, so the MLP's 256 would make it 256-512-1024-1024 channels, 15.5 M
# weights in 4 blocks: hopeless on a laptop CPU. 16 (16-32-64-64, 71 k weights) runs the default
# demo in about a minute on 2 cores; 32 (0.26 M) gains a point of accuracy at twice the time.
DEFAULT_WIDTH: dict[str, int] = {"mlp": 256, "cnn": 16}


def _reinit(model: nn.Sequential, gain: float) -> None:
    for layer in model:
        if isinstance(layer, nn.Linear | nn.Conv2d):
            fan_in = layer.weight[0].numel()
            nn.init.normal_(layer.weight, std=gain / math.sqrt(fan_in))
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def make_mlp(
    image_shape: tuple[int, int, int],
    num_classes: int,
    *,
    depth: int = 3,
    width: int = 256,
    activation: str = "relu",
    init_gain: float | None = None,
) -> nn.Sequential:
    """Flatten (N, C, H, W) -> (N, C*H*W), ``depth`` x [Linear, act], Linear -> (N, classes)."""
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(image_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), act()]  # (N, fan_in) -> (N, width)
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))  # (N, width) -> (N, classes) logits
    model = nn.Sequential(*layers)
    if init_gain is not None:
        _reinit(model, init_gain)
    return model


def make_cnn(
    image_shape: tuple[int, int, int],
    num_classes: int,
    *,
    depth: int = 3,
    width: int = 32,
    activation: str = "relu",
    init_gain: float | None = None,
) -> nn.Sequential:
    """``depth`` x [Conv3x3, act, (MaxPool2)], Flatten, Linear; channels width, 2*width, ..."""
    act = ACTIVATIONS[activation]
    channels, size = image_shape[0], image_shape[1]
    layers: list[nn.Module] = []
    for i in range(depth):
        out = width * 2 ** min(i, 2)
        layers += [nn.Conv2d(channels, out, kernel_size=3, padding=1), act()]  # same H, W
        if size > 4:
            layers.append(nn.MaxPool2d(2))  # (N, out, S, S) -> (N, out, S/2, S/2)
            size //= 2
        channels = out
    layers += [nn.Flatten(), nn.Linear(channels * size * size, num_classes)]
    model = nn.Sequential(*layers)
    if init_gain is not None:
        _reinit(model, init_gain)
    return model


def model_factory(
    arch: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    *,
    depth: int,
    width: int,
    activation: str,
    init_gain: float | None = None,
) -> Callable[[], nn.Sequential]:
    """A no-argument ``make_model`` for ``compare_runs``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {tuple(ACTIVATIONS)}")
    build = make_mlp if arch == "mlp" else make_cnn
    return partial(
        build,
        image_shape,
        num_classes,
        depth=depth,
        width=width,
        activation=activation,
        init_gain=init_gain,
    )
