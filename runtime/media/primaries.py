"""Colours tagged by primaries instead of an ICC profile (HEIF's ``nclx`` box, as many Android phones write
Display-P3), converted to sRGB.

The source's primaries and white point give its RGB → XYZ matrix (SMPTE RP 177); XYZ → linear sRGB follows, with a
Bradford adaptation when the white points differ; both ends use the sRGB tone curve, which Display-P3 shares.
Colours outside sRGB are clipped, as LittleCMS's relative colorimetric intent does for matrix profiles. Only SDR
transfer functions are converted; PQ and HLG (HDR) would need tone mapping and are read as they are.
"""

from __future__ import annotations

import numpy as np

SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
D65 = (0.3127, 0.3290)
SDR_TRANSFERS = (1, 6, 13, 14, 15)  # BT.709, BT.601, sRGB, BT.2020 10/12-bit (H.273 codes)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries: tuple, white: tuple[float, float]) -> np.ndarray:
    """3×3 matrix from linear RGB with these (x, y) ``primaries`` (red, green, blue) and ``white`` to XYZ."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, _xyz(white))


def to_srgb_matrix(primaries: tuple, white: tuple[float, float]) -> np.ndarray:
    """3×3 matrix from the source's linear RGB to linear sRGB (Bradford-adapted to D65 when the whites differ)."""
    source = rgb_to_xyz(primaries, white)
    if not np.allclose(white, D65, atol=1e-4):
        cone_source, cone_d65 = _BRADFORD @ _xyz(white), _BRADFORD @ _xyz(D65)
        source = np.linalg.inv(_BRADFORD) @ np.diag(cone_d65 / cone_source) @ _BRADFORD @ source
    return np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES, D65)) @ source


def _linear(code: np.ndarray) -> np.ndarray:
    return np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)


def _encoded(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def nclx_to_srgb(image: np.ndarray, nclx: dict | None) -> np.ndarray:
    """``image`` (H×W×3 float32 RGB 0–255) converted to sRGB from the primaries pillow-heif's ``nclx_profile``
    names; unchanged when there is none, it is sRGB/BT.709 or unspecified, or its transfer function is HDR."""
    if not nclx or nclx.get("color_primaries") in (None, 1, 2):
        return image
    if nclx.get("transfer_characteristics") not in SDR_TRANSFERS:
        return image
    try:
        channels = ("red", "green", "blue")
        primaries = tuple((nclx[f"color_primary_{c}_x"], nclx[f"color_primary_{c}_y"]) for c in channels)
        white = (nclx["color_primary_white_x"], nclx["color_primary_white_y"])
        matrix = to_srgb_matrix(primaries, white)
    except (KeyError, TypeError, ZeroDivisionError, np.linalg.LinAlgError):
        return image
    linear = _linear(image.astype(np.float64) / 255.0) @ matrix.T
    return (_encoded(linear) * 255.0).astype(np.float32)
