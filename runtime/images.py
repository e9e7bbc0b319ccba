"""Reading, converting, resizing and atomically writing images with OpenCV.

Every image inside Impasto is float32 H×W×3, RGB, 0–255. Reading accepts grayscale, RGBA (composited on white),
16-bit and float files, and turns every decoder complaint (truncated data, a header that claims more pixels than
allowed) into one ``ImpastoError`` line instead of native messages on stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

MAX_PIXELS = 1 << 28  # 268 M pixels: a 16 000 × 16 000 image; anything larger is refused before decoding
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))  # read once, when cv2 is first imported

import cv2  # noqa: E402  (after the pixel limit is set)

from impasto.runtime.errors import ImpastoError  # noqa: E402

MIN_SIDE = 16
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_TRUNCATION_SIGNS = ("premature end", "corrupt jpeg", "read error", "crc error", "incomplete", "truncated")


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Collect what C libraries (libjpeg, libpng, OpenCV's logger) write to fd 2 while decoding.

    Not thread-safe: it swaps the process's stderr for the duration, which is fine for the CLI's decoding.
    """
    sys.stderr.flush()
    messages: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            messages.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip())


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
    """Decode ``path`` into float32 RGB 0–255, or raise ``ImpastoError`` saying what is wrong with the file."""
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


def check_output_path(path: str | Path, suffixes=WRITABLE_SUFFIXES, kind: str = "output") -> Path:
    """Fail early, before any work, when the result could not be written there (``kind`` names it in errors)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ImpastoError(f"{path}: unsupported {kind} type {path.suffix or '(none)'}; use {', '.join(suffixes)}")
    if path.is_dir():
        raise ImpastoError(f"{path}: is a folder, not a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImpastoError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ImpastoError(f"{path}: folder {folder} is not writable")
    return path


def make_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) or say in one line why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImpastoError(f"{folder}: cannot create this folder ({error.strerror})") from error
    return folder


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix.lower(), pixels, params)
    if not ok:
        raise ImpastoError(f"cannot encode image as {suffix}")
    return encoded.tobytes()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename, so no half-written file is ever left behind."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ImpastoError(f"{path}: cannot write ({error.strerror})") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ImpastoError(f"{path}: cannot write ({error.strerror})") from error


def write_image(path: str | Path, image: np.ndarray) -> None:
    path = check_output_path(path)
    write_atomic(path, encode_image(image, path.suffix))


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding, so a server can refuse a decompression bomb
    before allocating it; None for other formats or an unreadable header (the decoder then has its own limit)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame: the image's size
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return None
