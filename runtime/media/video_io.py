"""Video files and cameras through OpenCV, with one-line errors and atomically written outputs.

Frames leave this module as float32 RGB 0–255 (what every model here takes) and enter it the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.native_stderr import captured_native_stderr
from impasto.runtime.media.paths import check_output_path

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_FPS = 30.0


def to_rgb_float(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32)


def to_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(np.rint(frame), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


class VideoSource:
    """A video file or a camera index; ``read()`` gives RGB float frames, None at the end."""

    def __init__(self, source: str | int) -> None:
        self.is_camera = isinstance(source, int)
        if not self.is_camera and not Path(source).is_file():
            raise ImpastoError(f"{source}: no such video file")
        with captured_native_stderr() as messages:  # OpenCV's backends print their own warnings on fd 2
            capture = cv2.VideoCapture(source)
            ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            capture.release()
            what = f"camera {source}" if self.is_camera else f"{source}"
            detail = f" ({messages[0][:160]})" if messages else ""
            kind = "cannot open or read from this camera" if self.is_camera else "OpenCV cannot read video from it"
            raise ImpastoError(f"{what}: {kind}{detail}")
        self.capture = capture
        self._first: np.ndarray | None = frame
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else DEFAULT_FPS
        self.height, self.width = frame.shape[:2]
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not self.is_camera else None

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return to_rgb_float(frame)
        ok, frame = self.capture.read()
        return to_rgb_float(frame) if ok else None

    def close(self) -> None:
        self.capture.release()


def check_video_output(path: str | Path) -> Path:
    return check_output_path(path, tuple(FOURCC), "video")


class AtomicVideoWriter:
    """Writes to a hidden temporary file beside the target; ``commit`` renames it, ``discard`` removes it."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int) -> None:
        self.path = check_video_output(path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=self.path.suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
        with captured_native_stderr():
            self.writer = cv2.VideoWriter(str(self.tmp), fourcc, fps, (width, height))
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise ImpastoError(f"{self.path}: OpenCV cannot write {self.path.suffix} video here")
        self.size = (width, height)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(to_bgr_uint8(frame))
        self.frames += 1

    def commit(self) -> None:
        self.writer.release()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.writer.release()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
