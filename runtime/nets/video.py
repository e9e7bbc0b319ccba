"""``impasto video``: a video file stylised frame by frame, keeping its size, timestamps, orientation and audio.

``size`` sets the longer side the net sees (smaller is faster); frames are scaled back to the input's size before
they are written. With ``blend`` > 0 the flow-guided temporal blend (``temporal.py``) steadies the strokes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from impasto.runtime.media.paths import refuse_overwriting_inputs
from impasto.runtime.media.video_audio import check_audio_fits
from impasto.runtime.media.video_io import AtomicVideoWriter, VideoFile, check_video_output
from impasto.runtime.media.video_write import output_format
from impasto.runtime.nets.stylizer import FrameStream, Stylizer


@dataclass
class VideoResult:
    frames: int
    fps: float  # the input's nominal frame rate (its own timestamps are what is kept)
    seconds: float  # wall-clock time of decoding, stylising and encoding every frame (time.perf_counter)
    audio_streams: int = 0  # copied into the output

    @property
    def speed(self) -> float:
        """Frames stylised per second of wall-clock time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def check_video_job(source: str | Path, output: str | Path) -> list[str]:
    """Every check before work, without a model: the output's suffix and folder, the output not being the input,
    the input a readable video, its audio one the output can hold. ImpastoError for the first that fails; returns
    warnings to show (audio a GIF cannot keep)."""
    output = check_video_output(output)
    refuse_overwriting_inputs([Path(source)], [output])
    video = VideoFile(source)
    try:
        return _audio_warnings(video, output)
    finally:
        video.close()


def _audio_warnings(video: VideoFile, output: Path) -> list[str]:
    if not video.audio_codecs:
        return []
    fmt = output_format(output)
    if not fmt.audio:
        return [f"{output}: a {output.suffix} file holds no sound; the audio of {video.path} is not kept"]
    check_audio_fits(video.container, video.path, output, fmt.muxer)
    return []


def stylize_video(
    stylizer: Stylizer, source: str | Path, output: str | Path, stream: FrameStream | None = None, quiet: bool = False
) -> VideoResult:
    """Every frame of ``source`` through ``stream`` (default: ``stylizer.stream()``) into ``output``, each at its own
    timestamp, upright, with the source's audio copied in; written to a hidden temporary file and renamed when
    complete. ImpastoError, before any frame is stylised, for an unreadable source or an unwritable output."""
    output = check_video_output(output)
    refuse_overwriting_inputs([Path(source)], [output])
    stream = stream or stylizer.stream()
    video = VideoFile(source)
    try:
        _audio_warnings(video, output)
        stylizer.net_size(video.height, video.width, stream.options.size)  # a bad size fails before any work
        audio = video.path if video.audio_codecs and output_format(output).audio else None
        writer = AtomicVideoWriter(output, video.fps, video.width, video.height, video.time_base, audio_from=audio)
    except BaseException:
        video.close()
        raise
    bar = tqdm(total=video.frame_count, desc=f"video {stylizer.name}", unit="frame", disable=True if quiet else None)
    started = time.perf_counter()
    try:
        for frame in video.frames():
            writer.write(stream(frame.image), frame.pts, frame.duration)
            bar.update(1)
        seconds = time.perf_counter() - started
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    finally:
        video.close()
        bar.close()
    return VideoResult(writer.frames, video.fps, seconds, len(video.audio_codecs) if audio else 0)
