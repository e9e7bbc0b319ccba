"""Video files decoded by FFmpeg (PyAV): upright RGB frames, each with the file's own timestamp.

Timestamps are kept as the file gives them (variable frame rates, a GIF's per-frame delays) so a writer can give
every frame the same time; the display matrix a phone records (rotate 90, mirrored front cameras) is applied, as
FFmpeg's own players do, so frames come out upright.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.decode import HEIF_STILL_BRANDS
from impasto.runtime.media.video_ffmpeg import quiet_ffmpeg, reason

DEFAULT_FPS = 30.0


@dataclass
class TimedFrame:
    """One decoded frame: ``image`` H×W×3 float32 RGB 0–255 (upright); ``pts`` and ``duration`` in the source's
    ``time_base`` (seconds = pts × time_base)."""

    image: np.ndarray
    pts: int
    duration: int


def upright(image: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """``image`` (H×W×C) as displayed under FFmpeg's 3×3 display ``matrix`` (9 int32, 16.16 fixed point; None:
    as stored). Right angles and mirrorings only, as ffmpeg's autorotate; other angles are left as stored."""
    if matrix is None:
        return image
    m = matrix
    scale = (math.hypot(m[0], m[3]), math.hypot(m[1], m[4]))
    if not all(scale):
        return image
    # ffmpeg's autorotate angle: minus av_display_rotation_get, which is itself minus this atan2
    theta = round(math.degrees(math.atan2(m[1] / scale[1], m[0] / scale[0])))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return image.swapaxes(0, 1) if m[3] > 0 else np.rot90(image, -1)
    if abs(theta - 270) < 1:
        return np.rot90(image, -1)[::-1] if m[3] < 0 else np.rot90(image, 1)
    if abs(theta - 180) < 1:
        if m[0] < 0:
            image = image[:, ::-1]
        return image[::-1] if m[4] < 0 else image
    return image[::-1] if abs(theta) < 1 and m[4] < 0 else image


def display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """The frame's display matrix (9 int32), or None when it has none.

    PyAV lists side data through an enum that ends before FFmpeg's newest kinds (a HEIC's EXIF is type 31): then
    its ``rotation`` (FFmpeg's av_display_rotation_get) is turned back into a matrix, as av_display_rotation_set
    makes one; a mirroring, if any, is lost in that case.
    """
    try:
        for data in frame.side_data:
            if data.type.name == "DISPLAYMATRIX":
                return np.frombuffer(bytes(data), dtype=np.int32)
        return None
    except ValueError:
        angle = frame.rotation
        if not angle:
            return None
        radians = -math.radians(angle)
        cosine, sine = round(math.cos(radians) * 65536), round(math.sin(radians) * 65536)
        return np.array([cosine, -sine, 0, sine, cosine, 0, 0, 0, 1 << 30], dtype=np.int32)


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame → H×W×3 float32 RGB 0–255, upright; its own colour matrix and range honoured."""
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
    return np.ascontiguousarray(upright(rgb, display_matrix(frame)), dtype=np.float32)


def _is_still_image(container: av.container.InputContainer, path: Path) -> bool:
    """png_pipe, jpeg_pipe, webp_pipe …, and HEIC/AVIF photos (FFmpeg opens those as MP4 and ignores their crop
    and orientation); GIF and APNG are animations."""
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):
        return True
    with path.open("rb") as handle:
        head = handle.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_STILL_BRANDS


class VideoFile:
    """A video file read with FFmpeg. ``read()`` gives the next frame's image (None at the end); ``frames()`` gives
    :class:`TimedFrame`\\ s. ImpastoError (one line naming the file) when it is missing, unreadable, a still image,
    or has no video stream or no frames; the first frame is decoded here, so a bad file fails before any work."""

    is_camera = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ImpastoError(f"{self.path}: no such video file")
        quiet_ffmpeg()
        try:
            self.container = av.open(str(self.path), metadata_errors="replace")
        except (av.FFmpegError, OSError) as error:
            raise ImpastoError(f"{self.path}: cannot read video from it ({reason(error)})") from None
        try:
            self.stream = self._video_stream()
            self._frames = self._decode()
            self._first: TimedFrame | None = next(self._frames, None)
        except BaseException:
            self.container.close()
            raise
        if self._first is None:
            self.container.close()
            raise ImpastoError(f"{self.path}: cannot read video from it (no frames)")
        self.height, self.width = self._first.image.shape[:2]
        self.audio_codecs = [s.codec_context.name for s in self.container.streams.audio]
        estimate = round(self._seconds() * self.fps)
        self.frame_count: int | None = self.stream.frames or estimate or None  # for progress bars (None: unknown)

    def _video_stream(self) -> av.video.stream.VideoStream:
        if _is_still_image(self.container, self.path):
            raise ImpastoError(f"{self.path}: is a still image, not a video (use impasto stylize)")
        cover = av.stream.Disposition.attached_pic  # an audio file's cover art shows as a one-picture video stream
        moving = [s for s in self.container.streams.video if not s.disposition & cover]
        if not moving:
            raise ImpastoError(f"{self.path}: has no video stream")
        stream = moving[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate and 0 < rate < 1000 else DEFAULT_FPS
        self.time_base: Fraction = stream.time_base or 1 / Fraction(self.fps).limit_denominator(1001)
        return stream

    def _seconds(self) -> float:
        if self.stream.duration and self.stream.time_base:
            return float(self.stream.duration * self.stream.time_base)
        return (self.container.duration or 0) / av.time_base

    def _decode(self) -> Iterator[TimedFrame]:
        """Frames in presentation order; a frame without a timestamp follows the one before it."""
        step = max(1, round(1 / (self.fps * self.time_base)))  # one frame at the nominal rate, in time_base units
        following = 0
        index = 0
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts if frame.pts is not None else following
                duration = frame.duration or step
                yield TimedFrame(to_rgb(frame), pts, duration)
                following = pts + duration
                index += 1
        except (av.FFmpegError, OSError) as error:
            raise ImpastoError(f"{self.path}: cannot decode frame {index + 1} ({reason(error)})") from None

    def frames(self) -> Iterator[TimedFrame]:
        """Every remaining frame, in presentation order."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def read(self) -> np.ndarray | None:
        """The next frame's image (H×W×3 float32 RGB 0–255), or None at the end."""
        if self._first is not None:
            first, self._first = self._first, None
            return first.image
        frame = next(self._frames, None)
        return None if frame is None else frame.image

    def close(self) -> None:
        self._frames.close()
        self.container.close()
