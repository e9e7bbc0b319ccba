"""VGG16's convolutional part as a torch module that takes RGB images in 0–255 and returns named layers.

This file is the one place that knows VGG16's layer names; exported graphs record the layers they use in their
metadata, and the runtime reads them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

# (name, kind) in network order; kind is "conv", "relu" or "pool". torchvision's vgg16().features has the same
# order, so a layer's index here is its index in that Sequential.
VGG16_LAYERS: tuple[tuple[str, str], ...] = tuple(
    item
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1)
    for item in (
        *(kind for i in range(1, convs + 1) for kind in ((f"conv{block}_{i}", "conv"), (f"relu{block}_{i}", "relu"))),
        (f"pool{block}", "pool"),
    )
)
VGG16_CONV_CHANNELS: dict[str, tuple[int, int]] = {
    "conv1_1": (3, 64), "conv1_2": (64, 64),
    "conv2_1": (64, 128), "conv2_2": (128, 128),
    "conv3_1": (128, 256), "conv3_2": (256, 256), "conv3_3": (256, 256),
    "conv4_1": (256, 512), "conv4_2": (512, 512), "conv4_3": (512, 512),
    "conv5_1": (512, 512), "conv5_2": (512, 512), "conv5_3": (512, 512),
}  # fmt: skip
LAYER_NAMES: tuple[str, ...] = tuple(name for name, _ in VGG16_LAYERS)
Pooling = Literal["avg", "max"]


@dataclass(frozen=True)
class Preprocess:
    """Maps RGB 0–255 to the network's input: ``(x - mean) * scale`` per channel (RGB order)."""

    mean: tuple[float, float, float]
    scale: tuple[float, float, float]
    name: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "mean_rgb_0_255": list(self.mean), "scale": list(self.scale)}


CAFFE_PREPROCESS = Preprocess(mean=(123.68, 116.779, 103.939), scale=(1.0, 1.0, 1.0), name="caffe")
TORCHVISION_PREPROCESS = Preprocess(
    mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
    scale=(1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)),
    name="torchvision",
)


def check_layers(layers: list[str] | tuple[str, ...], what: str) -> None:
    """Reject layer names VGG16 does not have, naming the valid ones."""
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown {what} layer(s) {', '.join(unknown)}; VGG16 has {', '.join(LAYER_NAMES)}")
    if not layers:
        raise ValueError(f"at least one {what} layer is needed")


class VGGFeatures(nn.Module):
    """VGG16 up to the deepest requested layer, with the input preprocessing folded in.

    ``pooling="avg"`` swaps max pooling for average pooling, as Gatys et al. (2016) recommend for synthesis.
    The weights are frozen: only the image receives gradients.
    """

    def __init__(
        self,
        convs: dict[str, tuple[torch.Tensor, torch.Tensor]],
        preprocess: Preprocess,
        layers: list[str],
        pooling: Pooling = "avg",
    ) -> None:
        super().__init__()
        check_layers(layers, "requested")
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', not {pooling!r}")
        self.layers = list(layers)
        self.pooling = pooling
        self.preprocess = preprocess
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(preprocess.scale).view(1, 3, 1, 1), persistent=False)
        deepest = max(LAYER_NAMES.index(name) for name in layers)
        self.sequence = [VGG16_LAYERS[i] for i in range(deepest + 1)]
        self.convs = nn.ModuleDict()
        for name, kind in self.sequence:
            if kind == "conv":
                weight, bias = convs[name]
                conv = nn.Conv2d(*VGG16_CONV_CHANNELS[name], kernel_size=3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                conv.requires_grad_(False)
                self.convs[name] = conv

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) * self.scale
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, kind in self.sequence:
            if kind == "conv":
                x = self.convs[name](x)
            elif kind == "relu":
                x = F.relu(x)
            elif self.pooling == "avg":
                x = F.avg_pool2d(x, 2)
            else:
                x = F.max_pool2d(x, 2)
            if name in wanted:
                out[name] = x
        return out
