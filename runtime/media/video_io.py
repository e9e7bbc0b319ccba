"""Where video comes from and goes to: files through FFmpeg (PyAV, ``video_read``/``video_write``), cameras
through OpenCV (an index into the system's capture devices, which PyAV does not enumerate portably).

Frames leave and enter as float32 H×W×3 RGB 0–255 (what every model here takes).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.native_stderr import captured_native_stderr
from impasto.runtime.media.video_read import DEFAULT_FPS, TimedFrame, VideoFile
from impasto.runtime.media.video_write import OUTPUTS, AtomicVideoWriter, check_video_output

__all__ = [
    "OUTPUTS",
    "AtomicVideoWriter",
    "CameraSource",
    "TimedFrame",
    "VideoFile",
    "VideoSource",
    "check_video_output",
    "open_video_source",
    "to_bgr_uint8",
]


def to_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    """RGB 0–255 (float) → BGR uint8, what OpenCV's windows and drawing take."""
    return cv2.cvtColor(np.clip(np.rint(frame), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


class CameraSource:
    """A camera by index; ``read()`` gives RGB float frames (None when it stops). ImpastoError when it cannot be
    opened or gives no first frame."""

    is_camera = True
    frame_count = None

    def __init__(self, index: int) -> None:
        with captured_native_stderr() as messages:  # OpenCV's backends print their own warnings on fd 2
            capture = cv2.VideoCapture(index)
            ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            capture.release()
            detail = f" ({messages[0][:160]})" if messages else ""
            raise ImpastoError(f"camera {index}: cannot open or read from this camera{detail}")
        self.capture = capture
        self._first: np.ndarray | None = frame
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else DEFAULT_FPS
        self.height, self.width = frame.shape[:2]

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            ok, frame = self.capture.read()
            if not ok:
                return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32)

    def close(self) -> None:
        self.capture.release()


VideoSource = VideoFile | CameraSource


def open_video_source(source: str | Path | int) -> VideoSource:
    """A camera (an int index) or a video file (a path): both give ``read()``, ``fps``, ``width``, ``height``,
    ``frame_count`` (None: unknown), ``is_camera`` and ``close()``."""
    return CameraSource(source) if isinstance(source, int) else VideoFile(source)
