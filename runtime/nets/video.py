"""``impasto video``: a video file stylised frame by frame, at its own frame rate and size.

``size`` sets the longer side the net sees (smaller is faster); frames are scaled back to the input's size before
they are written. With ``blend`` > 0 the flow-guided temporal blend (``temporal.py``) steadies the strokes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from impasto.runtime.media.paths import refuse_overwriting_inputs
from impasto.runtime.media.video_io import AtomicVideoWriter, VideoSource, check_video_output
from impasto.runtime.nets.stylizer import FrameStream, Stylizer


@dataclass
class VideoResult:
    frames: int
    fps: float  # the input's frame rate, kept in the output
    seconds: float


def stylize_video(
    stylizer: Stylizer, source: str | Path, output: str | Path, stream: FrameStream | None = None, quiet: bool = False
) -> VideoResult:
    """Every frame of ``source`` through ``stream`` (default: ``stylizer.stream()``) into ``output``, written to a
    hidden temporary file and renamed when complete. ImpastoError for an unreadable source or unwritable output."""
    check_video_output(output)
    refuse_overwriting_inputs([Path(source)], [Path(output)])
    stream = stream or stylizer.stream()
    video = VideoSource(str(source))
    try:
        stylizer.net_size(video.height, video.width, stream.options.size)  # a bad size fails before any work
    except BaseException:
        video.close()
        raise
    writer = AtomicVideoWriter(output, video.fps, video.width, video.height)
    bar = tqdm(total=video.frame_count, desc=f"video {stylizer.name}", unit="frame", disable=True if quiet else None)
    try:
        while (frame := video.read()) is not None:
            writer.write(stream(frame))
            bar.update(1)
    except BaseException:
        writer.discard()
        raise
    finally:
        video.close()
        bar.close()
    writer.commit()
    return VideoResult(writer.frames, video.fps, bar.format_dict["elapsed"])
