"""Encoding images and writing files atomically, so no half-written result is ever left behind."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.paths import check_output_path


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
    except BaseException as error:  # Ctrl-C too: no temporary file is left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise ImpastoError(f"{path}: cannot write ({error.strerror})") from error
        raise


def write_stdout(data: bytes) -> None:
    """``data`` to stdout (``-o -``). ImpastoError when stdout is closed or cannot take it (a full disk);
    BrokenPipeError when the reader left, which the CLI ends quietly. Either way stdout is pointed at /dev/null
    after a failure, so the interpreter's last flush at exit does not fail again with a traceback."""
    if sys.stdout is None:
        raise ImpastoError("stdout is closed; name an output file instead of -")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as error:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if isinstance(error, BrokenPipeError):
            raise
        raise ImpastoError(f"cannot write to stdout ({error.strerror})") from None


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an H×W×3 RGB image (any float or int dtype, 0–255; rounded and clipped to 8 bits) to ``path``, in the
    format its suffix names, atomically. ImpastoError for an unsupported suffix or an unwritable place."""
    path = check_output_path(path)
    write_atomic(path, encode_image(image, path.suffix))
