"""What the optimiser moves: the pixels themselves, or a Laplacian-pyramid / decorrelated-colour
parameterisation of them.

In pixel space an image's large structures are the directions a gradient method moves slowest: a pixel's
gradient is local, and L-BFGS's initial curvature guess treats every pixel alike. Feature-visualisation work
(Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill; Mordvintsev et al. 2018, "Differentiable
Image Parameterizations") optimises instead the levels of a Laplacian pyramid, each upsampled to the full size
and summed, in a colour space whose channels are decorrelated: x = C · Σ_k w_k U_k z_k. The map is linear, so
the gradient is its transpose applied to the image's gradient, and any image is reached (the finest level alone
spans them all). The image handed to the loss is clipped to 0–255; the gradient is zero where it clips, as for
a projection.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

# The square root of ImageNet's RGB colour correlation (Lucid's ``color_correlation_svd_sqrt``): columns map
# decorrelated channels to RGB, scaled so one unit is about one standard deviation of natural images (0–1 range).
COLOR_CORRELATION_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float64)
COLOR_SCALE = COLOR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0))


class Parameterization(Protocol):
    """A linear map from a parameter vector to a [1, 3, H, W] image (0–255), with its transpose."""

    bounded: bool  # True: the parameters are the pixels, and L-BFGS-B keeps them in 0–255 itself
    pixel_scale: float  # about how many 0–255 levels one unit of a parameter moves a pixel (Adam's step is in levels)

    def image(self, params: np.ndarray) -> np.ndarray: ...

    def gradient(self, params: np.ndarray, image_grad: np.ndarray) -> np.ndarray: ...

    def params(self, image: np.ndarray) -> np.ndarray: ...


class Pixels:
    """The pixels themselves (Gatys et al. 2016): params = the [1, 3, H, W] image, flattened, float64."""

    bounded = True
    pixel_scale = 1.0

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def image(self, params: np.ndarray) -> np.ndarray:
        return params.reshape(self.shape).astype(np.float32)

    def gradient(self, params: np.ndarray, image_grad: np.ndarray) -> np.ndarray:
        return image_grad.ravel().astype(np.float64)

    def params(self, image: np.ndarray) -> np.ndarray:
        return image.ravel().astype(np.float64)


def interpolation_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Bilinear interpolation from ``n_in`` to ``n_out`` samples (half-pixel centres, edges clamped, as
    OpenCV's and PyTorch's ``align_corners=False``): an n_out × n_in matrix whose rows sum to 1."""
    matrix = np.zeros((n_out, n_in), np.float64)
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = position - low
    np.add.at(matrix, (np.arange(n_out), low), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix


class Pyramid:
    """x = clip(255 · C · Σ_k w_k U_k z_k + 255·mean): ``levels`` levels, level k at 1/2^k of the size
    upsampled bilinearly (U_k), weighted w_k = ``level_gain``^k so the coarse levels move faster; C the
    decorrelated colour basis (``decorrelate``) or the identity."""

    bounded = False
    pixel_scale = 255.0  # the finest level: one unit is one standard deviation of natural images, 0–1 → 0–255

    def __init__(
        self, shape: tuple[int, ...], levels: int = 4, level_gain: float = 1.0, decorrelate: bool = True
    ) -> None:
        _, channels, height, width = shape
        self.shape = shape
        self.color = COLOR_SCALE if decorrelate else np.eye(3)
        self.color_inverse = np.linalg.inv(self.color)
        self.sizes: list[tuple[int, int]] = []
        self.ups: list[tuple[np.ndarray, np.ndarray]] = []
        self.gains: list[float] = []
        for level in range(levels):
            h, w = max(1, -(-height // 2**level)), max(1, -(-width // 2**level))
            if level and (h, w) == self.sizes[-1]:
                break
            self.sizes.append((h, w))
            self.ups.append((interpolation_matrix(height, h), interpolation_matrix(width, w)))
            self.gains.append(level_gain**level)
        self.splits = np.cumsum([channels * h * w for h, w in self.sizes])[:-1]

    def _levels(self, params: np.ndarray) -> list[np.ndarray]:
        return [part.reshape(3, h, w) for part, (h, w) in zip(np.split(params, self.splits), self.sizes, strict=True)]

    def _linear(self, params: np.ndarray) -> np.ndarray:
        """Σ_k w_k U_k z_k in decorrelated colour, 3×H×W (before the colour map and clipping)."""
        total = np.zeros(self.shape[1:], np.float64)
        for z, (up_h, up_w), gain in zip(self._levels(params), self.ups, self.gains, strict=True):
            total += gain * (up_h @ z @ up_w.T)
        return total

    def _unclipped(self, params: np.ndarray) -> np.ndarray:
        rgb = np.einsum("ij,jhw->ihw", self.color, self._linear(params))
        return 255.0 * rgb + 127.5

    def image(self, params: np.ndarray) -> np.ndarray:
        return np.clip(self._unclipped(params), 0.0, 255.0)[None].astype(np.float32)

    def gradient(self, params: np.ndarray, image_grad: np.ndarray) -> np.ndarray:
        """The transpose of the map applied to d loss / d image (zero where the image clips)."""
        unclipped = self._unclipped(params)
        grad = np.where((unclipped > 0) & (unclipped < 255), image_grad[0].astype(np.float64), 0.0)
        grad = 255.0 * np.einsum("ij,ihw->jhw", self.color, grad)
        parts = [gain * (up_h.T @ grad @ up_w) for (up_h, up_w), gain in zip(self.ups, self.gains, strict=True)]
        return np.concatenate([part.ravel() for part in parts])

    def params(self, image: np.ndarray) -> np.ndarray:
        """Parameters whose image is ``image`` ([1, 3, H, W], 0–255): all of it in the finest level."""
        finest = np.einsum("ij,jhw->ihw", self.color_inverse, (image[0].astype(np.float64) - 127.5) / 255.0)
        rest = sum(3 * h * w for h, w in self.sizes[1:])
        return np.concatenate([finest.ravel(), np.zeros(rest)])
