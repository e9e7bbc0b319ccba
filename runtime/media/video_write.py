"""Video files written with FFmpeg (PyAV), atomically: a hidden temporary file beside the target, renamed at the end.

H.264 for .mp4/.m4v/.mov/.mkv, so browsers play it: 4:2:0 when both sides are even; 4:4:4 (High 4:4:4) when one
is odd, since 4:2:0 H.264 cannot store an odd side and the size must stay exact. No B-frames: with uneven frame
times they leave an MP4's decode times ending before its last frame is shown, which shortens the file's duration.
.avi holds Motion JPEG (what OpenCV wrote before), .gif a palette per frame. Frames carry the source's own
timestamps; audio streams are copied in (``video_audio``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.paths import check_output_path
from impasto.runtime.media.video_audio import AudioCopy
from impasto.runtime.media.video_ffmpeg import quiet_ffmpeg, reason

# crf 18: near-transparent. veryfast: a third of "medium"'s time a frame (48 against 160 ms at 720p, measured on two
# cores) for files a few per cent larger; the webcam records on its display thread, and on a GPU encoding would
# otherwise be the slowest stage.
H264 = {"crf": "18", "preset": "veryfast"}


@dataclass(frozen=True)
class OutputFormat:
    """How one suffix is written: FFmpeg's muxer and encoder, their options, and the codec's time base when the
    container fixes one (None: the source's own)."""

    muxer: str
    codec: str
    codec_options: dict[str, str] = field(default_factory=dict)
    muxer_options: dict[str, str] = field(default_factory=dict)
    time_base: Fraction | None = None
    constant_rate: bool = False  # AVI: one tick per frame at the source's frame rate
    audio: bool = True  # whether the container holds sound


OUTPUTS = {
    ".mp4": OutputFormat("mp4", "libx264", H264, {"movflags": "+faststart"}),  # playable while it downloads
    ".m4v": OutputFormat("mp4", "libx264", H264, {"movflags": "+faststart"}),
    ".mov": OutputFormat("mov", "libx264", H264),
    ".mkv": OutputFormat("matroska", "libx264", H264),
    ".avi": OutputFormat("avi", "mjpeg", {"qmin": "1", "qmax": "3"}, constant_rate=True),
    ".gif": OutputFormat("gif", "gif", time_base=Fraction(1, 100), audio=False),  # delays in 1/100 s
}


def check_video_output(path: str | Path) -> Path:
    """``path`` as a Path when a video can be written there (suffix, folder); ImpastoError otherwise."""
    return check_output_path(path, tuple(OUTPUTS), "video")


def output_format(path: Path) -> OutputFormat:
    return OUTPUTS[path.suffix.lower()]


def pixel_format(fmt: OutputFormat, width: int, height: int) -> str:
    """The encoder's pixel format: 4:2:0 (what every player decodes) unless a side is odd and the codec is H.264."""
    if fmt.codec == "gif":
        return "pal8"
    if fmt.codec == "mjpeg":
        return "yuvj420p"
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


def _palette_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An RGB uint8 image with its own 256-colour palette (median cut), as GIF frames are."""
    quantized = Image.fromarray(rgb).quantize(256, dither=Image.Dither.NONE)
    colours = np.asarray(quantized.getpalette()[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), np.uint8)  # ARGB
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")


class AtomicVideoWriter:
    """A video written to a hidden temporary file beside ``path``; :meth:`commit` renames it there, :meth:`discard`
    (on any error or Ctrl-C) removes it.

    Frames are H×W×3 RGB 0–255 (float or uint8) at ``width``×``height`` (other sizes are resized). Each frame's
    ``pts`` and ``duration`` are in ``time_base`` (default: 1/``fps``, one tick a frame); without a ``pts`` a frame
    follows the one before. ``audio_from``: a video file whose audio streams are copied in. Every check — suffix,
    folder, codec, audio the container cannot hold — fails here, as ImpastoError, before any frame is written.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        width: int,
        height: int,
        time_base: Fraction | None = None,
        audio_from: str | Path | None = None,
    ) -> None:
        self.path = check_video_output(path)
        self.format = output_format(self.path)
        self.size = (width, height)
        rate = Fraction(fps).limit_denominator(1001)
        self.time_base = time_base or 1 / rate
        self.step = max(1, round(1 / (rate * self.time_base)))  # one frame at ``fps``, in time_base units
        self.codec_time_base = self.format.time_base or (1 / rate if self.format.constant_rate else self.time_base)
        self.frames = 0
        self._next_pts = 0  # in time_base: where a frame without a pts goes
        self._last_out = -1  # the last pts given to the encoder, in codec_time_base
        self._durations: dict[int, int] = {}  # codec pts → duration, for the packets (encoders drop it)
        self.audio: AudioCopy | None = None
        quiet_ffmpeg()
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=self.path.suffix)
        except OSError as error:
            raise ImpastoError(f"{self.path}: cannot write video here ({reason(error)})") from None
        os.close(fd)
        self.tmp = Path(tmp)
        try:
            self.container = av.open(str(self.tmp), "w", format=self.format.muxer, options=self.format.muxer_options)
        except (av.FFmpegError, OSError) as error:
            self.tmp.unlink(missing_ok=True)
            raise ImpastoError(f"{self.path}: cannot write video here ({reason(error)})") from None
        try:
            self.stream = self._add_video_stream(rate)
            if audio_from is not None and self.format.audio:
                self.audio = AudioCopy(audio_from, self.container, self.path)
            self.container.start_encoding()  # opens the encoder and writes the header: refusals come now
        except ImpastoError:
            self.discard()
            raise
        except (av.FFmpegError, OSError, ValueError) as error:
            self.discard()
            raise ImpastoError(f"{self.path}: cannot write this video ({reason(error)})") from None

    def _add_video_stream(self, rate: Fraction) -> av.video.stream.VideoStream:
        width, height = self.size
        stream = self.container.add_stream(self.format.codec, rate=rate, options=dict(self.format.codec_options))
        stream.width, stream.height = width, height
        stream.pix_fmt = pixel_format(self.format, width, height)
        stream.time_base = self.codec_time_base
        stream.codec_context.time_base = self.codec_time_base
        if self.format.codec == "libx264":
            stream.codec_context.max_b_frames = 0
            context = stream.codec_context  # BT.709, studio range: what players assume for H.264, said outright
            context.colorspace, context.color_primaries, context.color_trc, context.color_range = 1, 1, 1, 1
        return stream

    def _encoder_frame(self, rgb: np.ndarray) -> av.VideoFrame:
        if self.format.codec == "gif":
            return _palette_frame(rgb)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if self.format.codec == "libx264":
            return frame.reformat(format=self.stream.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
        return frame.reformat(format=self.stream.pix_fmt)  # JPEG: BT.601, full range

    def write(self, frame: np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        """Encode one frame (H×W×3 RGB 0–255) at ``pts`` for ``duration`` (``time_base`` units; default: the frame
        after the last, one frame long). Timestamps that do not increase are moved just after the last one."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        rgb = np.clip(np.rint(frame), 0, 255).astype(np.uint8) if frame.dtype != np.uint8 else frame
        pts = self._next_pts if pts is None else pts
        duration = duration or self.step
        self._next_pts = pts + duration
        out_pts = max(round(pts * self.time_base / self.codec_time_base), self._last_out + 1)
        out_end = max(round((pts + duration) * self.time_base / self.codec_time_base), out_pts + 1)
        self._last_out = out_pts
        encoded = self._encoder_frame(np.ascontiguousarray(rgb))
        encoded.pts, encoded.time_base = out_pts, self.codec_time_base
        self._durations[out_pts] = out_end - out_pts
        try:
            self._mux(self.stream.encode(encoded))
            if self.audio is not None:
                self.audio.copy_until(float(pts * self.time_base))
        except (av.FFmpegError, OSError) as error:
            raise ImpastoError(f"{self.path}: cannot write video ({reason(error)})") from None
        self.frames += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None:
                packet.duration = self._durations.pop(packet.pts, packet.duration)
            self.container.mux(packet)

    def commit(self) -> None:
        """Flush the encoder, copy the rest of the audio, close, and rename into place. ImpastoError (the
        temporary file removed) when any of it fails — a full disk, the folder gone."""
        try:
            self._mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.copy_until(None)
            self.container.close()
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        except (av.FFmpegError, OSError) as error:
            self.discard()
            raise ImpastoError(f"{self.path}: cannot write video ({reason(error)})") from None
        finally:
            if self.audio is not None:
                self.audio.close()

    def discard(self) -> None:
        """Close everything and remove the temporary file (safe to call twice)."""
        if self.audio is not None:
            self.audio.close()
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):
            self.container.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
