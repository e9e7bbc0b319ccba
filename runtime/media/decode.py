"""Decoding image files into float32 RGB 0–255, with one ``ImpastoError`` line for every kind of bad file.

Reading accepts grayscale, RGBA (composited on white), 16-bit and float files, and turns every decoder complaint
(truncated data, a header that claims more pixels than allowed) into one line instead of native messages on stderr.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media import MAX_PIXELS
from impasto.runtime.media.native_stderr import captured_native_stderr

MIN_SIDE = 16
_TRUNCATION_SIGNS = ("premature end", "corrupt jpeg", "read error", "crc error", "incomplete", "truncated")


def _looks_truncated(data: bytes, messages: list[str]) -> bool:
    """A JPEG without its end-of-image marker or a PNG without IEND was cut short; so was one the decoder says was."""
    text = " ".join(messages).lower()
    if any(sign in text for sign in _TRUNCATION_SIGNS):
        return True
    if data[:3] == b"\xff\xd8\xff":
        return not data.rstrip(b"\0").endswith(b"\xff\xd9")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def _decoder_reason(messages: list[str], data: bytes) -> str:
    text = " ".join(messages).lower()
    if "max_image_pixels" in text or "validateinputimagesize" in text or "exceeds" in text:
        return f"its header claims more than the {MAX_PIXELS:,} pixels allowed"
    if _looks_truncated(data, messages):
        return "the file is truncated or corrupt"
    return "not an image format OpenCV can decode, or corrupt"


def _to_rgb_float(decoded: np.ndarray) -> np.ndarray:
    if decoded.dtype == np.uint8:
        scaled = decoded.astype(np.float32)
    elif decoded.dtype == np.uint16:
        scaled = decoded.astype(np.float32) / 257.0
    elif decoded.dtype in (np.float32, np.float64):
        scaled = np.clip(decoded.astype(np.float32), 0.0, 1.0) * 255.0
    else:
        raise ImpastoError(f"unsupported pixel type {decoded.dtype}")
    if scaled.ndim == 2:
        scaled = scaled[:, :, None]
    channels = scaled.shape[2]
    if channels == 1:
        return np.repeat(scaled, 3, axis=2)
    if channels == 4:
        alpha = scaled[:, :, 3:4] / 255.0
        scaled = scaled[:, :, :3] * alpha + 255.0 * (1.0 - alpha)  # composite on white
    elif channels != 3:
        raise ImpastoError(f"unsupported number of channels: {channels}")
    return np.ascontiguousarray(scaled[:, :, ::-1])  # BGR → RGB


def read_image(path: str | Path, min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode ``path`` into an H×W×3 float32 RGB array in 0–255 (grayscale, RGBA composited on white, 16-bit and
    float files converted), or raise ``ImpastoError`` saying what is wrong with the file (missing, empty, truncated,
    undecodable, a side under ``min_side`` pixels, a header claiming more than ``MAX_PIXELS``)."""
    path = Path(path)
    if not path.exists():
        raise ImpastoError(f"{path}: no such file")
    if not path.is_file():
        raise ImpastoError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImpastoError(f"{path}: cannot read ({error.strerror})") from error
    return decode_image(data, str(path), min_side)


def decode_image(data: bytes, name: str, min_side: int = MIN_SIDE, capture_stderr: bool = True) -> np.ndarray:
    """Decode an encoded image (``name`` says what it is in errors) into float32 RGB 0–255.

    ``capture_stderr=False`` for threads (a server): decoder warnings then reach the process's stderr, and
    truncation is still caught from the file's end markers.
    """
    if not data:
        raise ImpastoError(f"{name}: empty file (0 bytes)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    is_jpeg = data[:3] == b"\xff\xd8\xff"
    # JPEGs through IMREAD_COLOR so EXIF orientation is applied; everything else unchanged (alpha, 16-bit, gray)
    flags = cv2.IMREAD_COLOR if is_jpeg else cv2.IMREAD_UNCHANGED
    capture = captured_native_stderr() if capture_stderr else contextlib.nullcontext([])
    with capture as messages:
        try:
            decoded = cv2.imdecode(buffer, flags)
        except cv2.error as error:
            messages.append(str(error))
            decoded = None
    if decoded is None or decoded.size == 0:
        raise ImpastoError(f"{name}: cannot decode image: {_decoder_reason(messages, data)}")
    if _looks_truncated(data, messages):
        # libjpeg fills a cut-off image with grey and only warns; a half-grey photo is not what the user meant
        raise ImpastoError(f"{name}: cannot decode image: the file is truncated or corrupt")
    height, width = decoded.shape[:2]
    if min(height, width) < min_side:
        raise ImpastoError(f"{name}: image is {width}×{height} pixels; at least {min_side} pixels per side are needed")
    return _to_rgb_float(decoded)
