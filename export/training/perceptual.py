"""Johnson et al.'s (2016) perceptual loss for training transformer nets, on the same VGG16 module as the loss graph.

content  mean (φ_j(y) − φ_j(x))²                  j = relu2_2
style    Σ_l mean (G_l(y) − G_l(s))²,  G = F Fᵀ / (C H W)   l = relu1_2, relu2_2, relu3_3, relu4_3
tv       Σ (y[i+1, j] − y[i, j])² + Σ (y[i, j+1] − y[i, j])²  (per image, on 0–255)

These are the paper's normalisations (and those of its Torch code), so its weights carry over; they differ from
the Gatys graph's on purpose, because the two methods' published weights assume them.
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.export.lossgraph.losses import total_variation
from impasto.export.lossgraph.vgg import VGGFeatures
from impasto.export.lossgraph.weights import VGGWeights

CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def gram_batch(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] → [B, C, C] Gram matrices normalised by C·H·W."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


class PerceptualLoss(nn.Module):
    """(stylised, content batch) → (content, style, tv) losses against a style image's Gram matrices; given several
    style images (a net of several styles), ``style_index`` says which one a batch is judged against."""

    def __init__(self, weights: VGGWeights, style_image: torch.Tensor | list[torch.Tensor]) -> None:
        super().__init__()
        # Johnson et al. use VGG16 as trained, with max pooling. The content targets need only the first two blocks.
        self.vgg = VGGFeatures(weights.convs, weights.preprocess, list(CONTENT_LAYERS + STYLE_LAYERS), "max")
        self.content_vgg = VGGFeatures(weights.convs, weights.preprocess, list(CONTENT_LAYERS), "max")
        images = style_image if isinstance(style_image, list) else [style_image]
        self.styles = len(images)
        for index, image in enumerate(images):
            with torch.no_grad():
                features = self.vgg(image)
            for name in STYLE_LAYERS:
                self.register_buffer(self._gram(name, index), gram_batch(features[name]), persistent=False)

    @staticmethod
    def _gram(layer: str, index: int) -> str:
        return f"gram_{layer}" if index == 0 else f"gram_{layer}_{index}"

    def forward(
        self, stylised: torch.Tensor, content: torch.Tensor, style_index: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            wanted = self.content_vgg(content)
        got = self.vgg(stylised)
        content_loss = sum(torch.mean((got[name] - wanted[name]) ** 2) for name in CONTENT_LAYERS)
        style_loss = sum(
            torch.mean((gram_batch(got[name]) - getattr(self, self._gram(name, style_index))) ** 2)
            for name in STYLE_LAYERS
        )
        tv_loss = total_variation(stylised) / stylised.shape[0]
        return content_loss, style_loss, tv_loss
