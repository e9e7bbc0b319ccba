"""Keeping the content's colours (Gatys, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in
Neural Style Transfer", 2017), two ways:

- luminance: transfer style on luminance only (YIQ's Y, the style's luminance matched to the content's mean and
  spread), then put the content's I and Q back;
- histogram: first give the style image the content's colour mean and covariance (the linear "image analogies"
  transform, A = Σc^½ Σs^-½), then transfer as usual.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
PRESERVE_COLOR_MODES = ("luminance", "histogram")


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float64) @ _RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(np.float64) @ _YIQ_TO_RGB.T, 0.0, 255.0).astype(np.float32)


def luminance_image(image: np.ndarray) -> np.ndarray:
    """Y replicated to three channels, which is what VGG sees in luminance-only transfer."""
    y = rgb_to_yiq(image)[:, :, :1]
    return np.repeat(y, 3, axis=2)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The style's luminance image shifted and scaled to the content luminance's mean and standard deviation."""
    ys, yc = luminance_image(style), luminance_image(content)
    spread = yc.std() / max(float(ys.std()), 1e-6)
    return np.clip((ys - ys.mean()) * spread + yc.mean(), 0.0, 255.0).astype(np.float32)


def restore_chroma(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's I and Q channels (sizes must agree)."""
    yiq = rgb_to_yiq(content)
    yiq[:, :, 0] = rgb_to_yiq(result)[:, :, 0]
    return yiq_to_rgb(yiq)


def _sqrtm(covariance: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, 1e-5)
    power = -0.5 if inverse else 0.5
    return (vectors * values**power) @ vectors.T


def match_color_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Recolour ``style`` so its pixels have the content's colour mean and covariance."""
    source = style.reshape(-1, 3).astype(np.float64)
    target = content.reshape(-1, 3).astype(np.float64)
    mu_s, mu_c = source.mean(0), target.mean(0)
    transform = _sqrtm(np.cov(target, rowvar=False)) @ _sqrtm(np.cov(source, rowvar=False), inverse=True)
    matched = (source - mu_s) @ transform.T + mu_c
    return np.clip(matched, 0.0, 255.0).reshape(style.shape).astype(np.float32)
