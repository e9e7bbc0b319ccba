"""``impasto webcam``: capture → stylise → show/record, in three threads so the slowest stage sets the pace.

From a camera the capture thread keeps only the newest frame (a live filter must not lag behind the scene, so
stale frames are dropped and counted); from a file (``--source``) it hands over every frame, waiting for the
stylising thread, so a file run is complete and repeatable. The display runs on the main thread, as GUI
toolkits require, and reads the keys: ``m`` next model, ``s`` next size, ``b`` temporal blend on/off,
``q`` or Esc to quit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.media.paths import refuse_overwriting_inputs
from impasto.runtime.media.video_io import (
    AtomicVideoWriter,
    VideoSource,
    check_video_output,
    open_video_source,
    to_bgr_uint8,
)
from impasto.runtime.nets.stylizer import FrameStream, Stylizer, StylizerCache

WINDOW = "impasto webcam"
SIZES = (240, 360, 480, 720)
_END = object()


@dataclass
class WebcamSettings:
    models: list[str]
    size: int | tuple[int, int] | None = 360  # long side the net sees, or (height, width)
    blend: float = 0.0
    preserve_color: bool = False
    strength: float = 1.0  # 0: the camera's frame, 1: the style's result
    session: SessionConfig = field(default_factory=SessionConfig)
    precision: str | None = None
    window: bool = True
    record: str | None = None
    max_frames: int | None = None
    # a key source besides the window: called on the main thread after each shown frame with the number of frames
    # shown so far and that frame; returns a key code as cv2.waitKey would (None or -1: no key) — a remote control,
    # a GUI of one's own, a test
    keys: Callable[[int, np.ndarray], int | None] | None = None


@dataclass
class WebcamStats:
    frames: int = 0
    dropped: int = 0
    seconds: float = 0.0
    stylize_seconds: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class _Controls:
    """What the keys change, read by the stylising thread before each frame."""

    def __init__(self, settings: WebcamSettings) -> None:
        self.settings = settings
        self.model_index = 0
        self.size = settings.size
        self.blend = settings.blend
        self.stop = threading.Event()
        self.stylizers = StylizerCache(settings.session, settings.precision)
        self.models = list(settings.models)  # what m goes round (a net of several styles: its styles)

    def model(self, name: str) -> Stylizer:
        return self.stylizers.get(name)

    def key(self, code: int) -> None:
        if code in (ord("q"), 27):
            self.stop.set()
        elif code == ord("m"):
            self.model_index = (self.model_index + 1) % len(self.models)
        elif code == ord("s"):
            later = [s for s in SIZES if self.size is None or s > self.size]
            self.size = later[0] if later else SIZES[0]
        elif code == ord("b"):
            self.blend = 0.0 if self.blend else 0.6


def _capture(source: VideoSource, frames: queue.Queue, controls: _Controls, stats: WebcamStats, limit: int | None):
    read = 0
    while not controls.stop.is_set() and (limit is None or read < limit):
        frame = source.read()
        if frame is None:
            break
        read += 1
        if source.is_camera:  # keep only the newest frame
            try:
                frames.get_nowait()
                stats.dropped += 1
            except queue.Empty:
                pass
            frames.put(frame)
        else:
            while not controls.stop.is_set():
                try:
                    frames.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
    frames.put(_END)


def _stylize(frames: queue.Queue, results: queue.Queue, controls: _Controls, stats: WebcamStats) -> None:
    stream: FrameStream | None = None
    current: tuple | None = None
    try:
        while (frame := frames.get()) is not _END and not controls.stop.is_set():
            name = controls.models[controls.model_index]
            wanted = (name, controls.size, controls.blend)
            if stream is None or current != wanted:  # a key was pressed: new model, size or blend
                settings = controls.settings
                stream = controls.model(name).stream(controls.size, settings.preserve_color, controls.blend,
                                                     settings.strength)  # fmt: skip
                current = wanted
            started = time.perf_counter()
            out = stream(frame)
            stats.stylize_seconds.append(time.perf_counter() - started)
            results.put(out)
    except Exception as error:  # handed to the main thread, which raises it
        results.put(error)
    results.put(_END)


def _overlay(frame: np.ndarray, text: str) -> np.ndarray:
    image = to_bgr_uint8(frame)
    cv2.putText(image, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _open_window() -> None:
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error as error:
        raise ImpastoError(
            "this OpenCV build cannot open a window (opencv-python-headless, or no display); use --no-window"
        ) from error


def run_webcam(source: str | int, settings: WebcamSettings) -> WebcamStats:
    """Run until the source ends, ``max_frames`` are shown, or the user quits; returns what was measured."""
    if settings.record:
        check_video_output(settings.record)
        if not isinstance(source, int):
            refuse_overwriting_inputs([Path(source)], [Path(settings.record)])
    controls = _Controls(settings)
    first = controls.model(settings.models[0])  # a bad model fails here, before the camera is opened
    if len(settings.models) == 1 and first.net.styles:
        # one net of several styles, or one of its styles: the m key goes round its styles from the one given (a
        # blend comes first, then the styles), all in the one open session
        styles = list(first.net.styles)
        start = styles.index(first.name) if first.name in styles else 0
        rotated = styles[start:] + styles[:start]
        named = first.name in styles or first.name == first.net.metadata.get("impasto.name")
        controls.models = rotated if named else [first.name, *rotated]
    video = open_video_source(source if isinstance(source, int) else Path(source))
    try:
        if settings.window:
            _open_window()
        writer = AtomicVideoWriter(settings.record, video.fps, video.width, video.height) if settings.record else None
    except BaseException:
        video.close()
        raise
    stats = WebcamStats()
    frames: queue.Queue = queue.Queue(maxsize=1 if video.is_camera else 2)
    results: queue.Queue = queue.Queue(maxsize=2)
    workers = [
        threading.Thread(target=_capture, args=(video, frames, controls, stats, settings.max_frames), daemon=True),
        threading.Thread(target=_stylize, args=(frames, results, controls, stats), daemon=True),
    ]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    shown_at: list[float] = []
    try:
        while not controls.stop.is_set() and (out := results.get()) is not _END:  # a quit key ends it at once
            if isinstance(out, Exception):
                raise out
            stats.frames += 1
            shown_at.append(time.perf_counter())
            recent = shown_at[-30:]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            if writer:
                writer.write(out)
            if settings.window:
                name = controls.models[controls.model_index]
                cv2.imshow(WINDOW, _overlay(out, f"{fps:5.1f} FPS  {name}  {controls.size or 'full'} px  [m s b q]"))
                controls.key(cv2.waitKey(1) & 0xFF)
            if settings.keys is not None and (code := settings.keys(stats.frames, out)) is not None and code >= 0:
                controls.key(code)
    except BaseException:
        controls.stop.set()
        if writer:
            writer.discard()
        raise
    finally:
        controls.stop.set()
        deadline = time.perf_counter() + 5
        for worker in workers:  # unblock threads waiting to hand over a frame or a result, until they end
            while worker.is_alive() and time.perf_counter() < deadline:
                _drain(frames)
                _drain(results)
                worker.join(timeout=0.05)
        video.close()
        if settings.window:
            cv2.destroyAllWindows()
    stats.seconds = time.perf_counter() - started
    if writer:
        writer.commit()
    return stats


def _drain(items: queue.Queue) -> None:
    """Empty a queue, so a thread waiting to put into it goes on."""
    try:
        while True:
            items.get_nowait()
    except queue.Empty:
        pass
