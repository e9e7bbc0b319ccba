"""Artefacts of a net's output, measured: the share of high-frequency energy on the Nyquist lines (a 2-px grid),
and a frame darker or lighter than the image inside it.

A net whose last layer feeds a pixel shuffle (or a strided transposed convolution) makes each 2×2 block of output
pixels from different channels, and any mismatch between them repeats every 2 pixels: a fine grid, which in the
spectrum is energy on the lines |fx| = 0.5 or |fy| = 0.5 cycles/px. Photographs and Gatys results put about 0.1–1.5 %
of their high-frequency energy there; the pixel-shuffle nets shipped before issue 11 put 4–26 % there.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as the YIQ conversion of media/color.py
HIGH_FREQUENCY = 0.25  # cycles/px: frequencies with max(|fx|, |fy|) above this are "high"
NYQUIST_BAND = 1.5  # frequency bins: a line counts as the Nyquist line within 1.5 bins of 0.5 cycles/px


def grid_share(image: np.ndarray) -> float:
    """Share (0–1) of an H×W×3 (or H×W) image's high-frequency power that lies on the Nyquist lines.

    Exactly: grayscale (ITU-R 601 luma), cropped to even sides, mean removed, 2-D Hann window, power spectrum P;
    among frequencies with max(|fx|, |fy|) > 0.25 cycles/px, the share of P where |fx| ≥ 0.5 − 1.5/W or
    |fy| ≥ 0.5 − 1.5/H. ValueError for an image under 8 px a side or one with no high-frequency energy at all.
    """
    gray = image.astype(np.float64) @ LUMA if image.ndim == 3 else image.astype(np.float64)
    height, width = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    if min(height, width) < 8:
        raise ValueError(f"image of {gray.shape[1]}×{gray.shape[0]} is too small to measure")
    gray = gray[:height, :width]
    windowed = (gray - gray.mean()) * np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2(windowed)) ** 2
    fy = np.abs(np.fft.fftfreq(height))[:, None]
    fx = np.abs(np.fft.fftfreq(width))[None, :]
    high = np.maximum(fx, fy) > HIGH_FREQUENCY
    nyquist = (fx >= 0.5 - NYQUIST_BAND / width) | (fy >= 0.5 - NYQUIST_BAND / height)
    total = power[high].sum()
    if total <= 0:
        raise ValueError("the image has no high-frequency energy to measure")
    return float(power[high & nyquist].sum() / total)


FRAME, BAND = 3, 12  # px: the outer frame, and the band just inside it that the frame is compared with


def border_contrast(image: np.ndarray) -> float:
    """Mean luma (0–255) of an H×W×3 image's outer 3-px frame minus that of the 12 px just inside it: negative for
    a dark frame, positive for a light one. Photographs score within a few levels of 0; nets that zero-pad near their
    output scored −18 to +24 on the held-out photos before issue 11. ValueError for an image under 32 px a side."""
    if min(image.shape[:2]) < 2 * (FRAME + BAND) + 2:
        raise ValueError(f"image of {image.shape[1]}×{image.shape[0]} is too small to measure its border")
    luma = image[..., :3].astype(np.float64) @ LUMA
    inside = FRAME + BAND
    frame = np.ones(luma.shape, bool)
    frame[FRAME:-FRAME, FRAME:-FRAME] = False
    band = np.ones(luma.shape, bool)
    band[inside:-inside, inside:-inside] = False
    band &= ~frame
    return float(luma[frame].mean() - luma[band].mean())
