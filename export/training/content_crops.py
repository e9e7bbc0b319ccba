"""Training batches from a folder of photos: random square crops with scale jitter and horizontal flips.

No data set can be downloaded here, so a dozen photos stand in for COCO; cropping at random scales and positions
gives the net a different view every step. The sampler's only state is a numpy Generator, which the checkpoint
saves, so a resumed run draws exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.paths import READABLE_SUFFIXES

IMAGE_SUFFIXES = READABLE_SUFFIXES  # whatever the one reader reads (runtime/media/decode.py), HEIC included


def list_images(folder: Path, exclude: list[str]) -> list[Path]:
    """Image files directly in ``folder`` whose stem is not in ``exclude``, sorted so runs are reproducible."""
    if not folder.is_dir():
        raise ImpastoError(f"{folder}: not a folder of content images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in exclude)
    if not paths:
        raise ImpastoError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) left to train on")
    return paths


class ContentCrops:
    """Draws [B, 3, size, size] float32 batches (RGB 0–255) from a fixed list of photos."""

    def __init__(self, paths: list[Path], size: int, min_scale: float = 0.5, seed: int = 0) -> None:
        self.paths = paths
        self.size = size
        self.min_scale = min_scale
        self.images = [read_image(p, min_side=size // 2) for p in paths]
        self.rng = np.random.default_rng(seed)

    def crop(self) -> np.ndarray:
        image = self.images[self.rng.integers(len(self.images))]
        height, width = image.shape[:2]
        side = int(round(min(height, width) * self.rng.uniform(self.min_scale, 1.0)))
        top = int(self.rng.integers(height - side + 1))
        left = int(self.rng.integers(width - side + 1))
        patch = image[top : top + side, left : left + side]
        interpolation = cv2.INTER_AREA if side > self.size else cv2.INTER_CUBIC
        patch = cv2.resize(patch, (self.size, self.size), interpolation=interpolation)
        if self.rng.random() < 0.5:
            patch = patch[:, ::-1]
        return np.clip(patch, 0, 255).transpose(2, 0, 1)

    def batch(self, batch_size: int) -> np.ndarray:
        return np.ascontiguousarray(np.stack([self.crop() for _ in range(batch_size)]), dtype=np.float32)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
