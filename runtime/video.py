"""``impasto video``: a video file stylised frame by frame, at its own frame rate and size.

``size`` sets the longer side the net sees (smaller is faster); frames are scaled back to the input's size before
they are written. With ``blend`` > 0 the flow-guided temporal blend (``temporal.py``) steadies the strokes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from impasto.runtime.color import restore_chroma
from impasto.runtime.images import resize, resize_long_side
from impasto.runtime.temporal import TemporalBlender
from impasto.runtime.transformer_model import TransformerModel
from impasto.runtime.video_io import AtomicVideoWriter, VideoSource, check_video_output


@dataclass
class FrameStylizer:
    """One frame in, one stylised frame of the same size out; holds the temporal state of one stream."""

    model: TransformerModel
    size: int | None = None
    preserve_color: bool = False
    blend: float = 0.0

    def __post_init__(self) -> None:
        self.blender = TemporalBlender(self.blend) if self.blend > 0 else None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        small = resize_long_side(frame, self.size) if self.size and max(frame.shape[:2]) != self.size else frame
        out = self.model.stylize(small)
        if self.preserve_color:
            out = restore_chroma(out, small)
        if self.blender is not None:
            out = self.blender.apply(small, out)
        return out if out.shape == frame.shape else resize(out, (frame.shape[1], frame.shape[0]))


@dataclass
class VideoResult:
    frames: int
    fps: float  # the input's frame rate, kept in the output
    seconds: float


def stylize_video(
    model: TransformerModel, source: str | Path, output: str | Path, stylizer: FrameStylizer, quiet: bool = False
) -> VideoResult:
    check_video_output(output)
    video = VideoSource(str(source))
    writer = AtomicVideoWriter(output, video.fps, video.width, video.height)
    bar = tqdm(total=video.frame_count, desc=f"video {model.name}", unit="frame", disable=quiet)
    try:
        while (frame := video.read()) is not None:
            writer.write(stylizer(frame))
            bar.update(1)
    except BaseException:
        writer.discard()
        raise
    finally:
        video.close()
        bar.close()
    writer.commit()
    return VideoResult(writer.frames, video.fps, bar.format_dict["elapsed"])
