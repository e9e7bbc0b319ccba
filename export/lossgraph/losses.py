"""The style-transfer objective of Gatys, Ecker & Bethge (2016) as torch modules.

content  L_c = Σ_layers c_l Σ (F − P)²
style    E_l = 1/(4 N_l² M_l²) Σ (G − A)²,  G = F Fᵀ,  L_s = Σ_l w_l E_l
tv       L_tv = Σ (x[i+1, j] − x[i, j])² + Σ (x[i, j+1] − x[i, j])²      (image in 0–255)
total    α L_c + β L_s + γ L_tv

Style targets are stored per position, Â = A / M_style, so that one target serves any output size; the loss uses
A = M·Â with M the generated image's positions, which is exactly the formula above when the sizes agree. It is
computed as 1/(4 N²) Σ (G/M − Â)², the same number, without squaring sums of M products in float32.
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.export.lossgraph.vgg import VGGFeatures


def gram_per_position(features: torch.Tensor) -> torch.Tensor:
    """G / M for a single image's [1, N, H, W] features: an N×N matrix that does not grow with image size."""
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width)
    return flat @ flat.t() / (height * width)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    down = image[:, :, 1:, :] - image[:, :, :-1, :]
    right = image[:, :, :, 1:] - image[:, :, :, :-1]
    return (down * down).sum() + (right * right).sum()


class FeatureTargets(nn.Module):
    """image → content features (one per content layer) and per-position Gram matrices (one per style layer)."""

    def __init__(self, vgg: VGGFeatures, content_layers: list[str], style_layers: list[str]) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.vgg(image)
        return tuple(features[name] for name in self.content_layers) + tuple(
            gram_per_position(features[name]) for name in self.style_layers
        )


class StyleTransferLoss(nn.Module):
    """(image, targets, weights) → (total, content, style, tv), each a scalar; see the module docstring."""

    def __init__(self, vgg: VGGFeatures, content_layers: list[str], style_layers: list[str]) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)

    def forward(
        self,
        image: torch.Tensor,
        content_targets: tuple[torch.Tensor, ...],
        style_targets: tuple[torch.Tensor, ...],
        content_weight: torch.Tensor,
        style_weight: torch.Tensor,
        tv_weight: torch.Tensor,
        content_layer_weights: torch.Tensor,
        style_layer_weights: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.vgg(image)
        content = image.new_zeros(())
        for i, (name, target) in enumerate(zip(self.content_layers, content_targets, strict=True)):
            diff = features[name] - target
            content = content + content_layer_weights[i] * (diff * diff).sum()
        style = image.new_zeros(())
        for i, (name, target) in enumerate(zip(self.style_layers, style_targets, strict=True)):
            channels = features[name].shape[1]
            diff = gram_per_position(features[name]) - target
            style = style + style_layer_weights[i] * (diff * diff).sum() / (4 * channels * channels)
        tv = total_variation(image)
        total = content_weight * content + style_weight * style + tv_weight * tv
        return total, content, style, tv
