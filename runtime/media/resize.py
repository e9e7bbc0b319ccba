"""Resizing images: by long side or to an exact size, area filter when shrinking, bicubic when enlarging."""

from __future__ import annotations

import cv2
import numpy as np


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Scale so the longer side is ``long_side`` pixels, keeping the aspect ratio (area filter when shrinking)."""
    return resize(image, long_side_size(image.shape[:2], long_side))


def long_side_size(shape: tuple[int, ...], long_side: int) -> tuple[int, int]:
    """(width, height) after scaling an image of ``shape`` (height, width, …) so its longer side is ``long_side``."""
    height, width = shape[:2]
    factor = long_side / max(height, width)
    return max(1, round(width * factor)), max(1, round(height * factor))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area filter when shrinking, bicubic when enlarging, clipped to 0–255."""
    height, width = image.shape[:2]
    if (width, height) == size:
        return image.astype(np.float32, copy=True)
    shrinking = size[0] * size[1] < width * height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.clip(cv2.resize(image, size, interpolation=interpolation), 0.0, 255.0).astype(np.float32)
