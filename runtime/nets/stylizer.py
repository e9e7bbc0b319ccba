"""The one stylisation path of the feed-forward nets: load → resize → stylise (tiled when large) → colour.

``impasto stylize``, ``video``, ``webcam``, ``serve`` and ``batch`` all call :class:`Stylizer`; there is no other
copy of this pipeline. Video and the webcam use :meth:`Stylizer.stream`, which adds the temporal blend and returns
frames at their own size.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import TRANSFORMER, default_name, resolve
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.media.color import restore_chroma
from impasto.runtime.media.resize import long_side_size, resize
from impasto.runtime.nets.temporal import TemporalBlender
from impasto.runtime.nets.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, stylize_large, tile_count
from impasto.runtime.nets.transformer import TransformerModel

MIN_TILE = 64  # px; a tile smaller than this is mostly blended border


@dataclass(frozen=True)
class StylizeOptions:
    """How one image is stylised. The CLI's and the server's defaults are these.

    ``size``: long side the net sees, in pixels, or an exact (height, width) (None: the image's own). ``tile``:
    images larger than this many pixels a side are stylised in overlapping tiles of it (None: always one pass).
    ``strength``: 0 gives the (resized) input, 1 the net's result, a pixel blend between them in between.
    ``overlap``: pixels neighbouring tiles share (None: 128, or a quarter of a smaller tile). ``stats_side``: the
    copy whose normalisation statistics the tiles share has at most ``stats_side``² pixels (None: twice a tile's).
    ImpastoError for values that cannot work (a tile under ``MIN_TILE`` px, an overlap over half the tile).
    """

    size: int | tuple[int, int] | None = None
    preserve_color: bool = False
    tile: int | None = DEFAULT_TILE
    overlap: int | None = None
    stats_side: int | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise ImpastoError(f"strength must be between 0 and 1, not {self.strength}")
        for name in ("size", "tile", "stats_side"):
            value = getattr(self, name)
            if value is not None and min(value if isinstance(value, tuple) else (value,)) <= 0:
                raise ImpastoError(f"{name} must be a positive number of pixels, not {describe_size(value)}")
        if self.tile is not None and self.tile < MIN_TILE:
            raise ImpastoError(f"tile {self.tile} px is too small: tiles of under {MIN_TILE} px are mostly border")
        if self.overlap is not None and self.overlap < 0:
            raise ImpastoError(f"overlap must be 0 or more pixels, not {self.overlap}")
        if self.tile is not None and self.tile_overlap * 2 > self.tile:
            raise ImpastoError(f"tile overlap {self.overlap} px must be at most half the tile size {self.tile} px")

    @property
    def tile_overlap(self) -> int:
        """The overlap in pixels: as given, else 128 or a quarter of a tile smaller than 512 px."""
        if self.overlap is not None:
            return self.overlap
        return min(DEFAULT_OVERLAP, (self.tile or DEFAULT_TILE) // 4)


def describe_size(size: int | tuple[int, int] | None) -> str:
    """``long side 512``, ``480x640`` or ``its own size``: a size as the command line writes it."""
    if size is None:
        return "its own size"
    return f"{size[0]}x{size[1]}" if isinstance(size, tuple) else f"long side {size}"


class Stylizer:
    """A transformer net and the whole path around it. Thread-safe: one instance serves many threads.

    ``model``: a name (default: the first shipped net) or an ``.onnx`` path; ``config``: onnxruntime options;
    ``precision``: ``fp32``/``fp16``/``int8`` variant (None: the model's own). ``io_binding`` as in
    :class:`TransformerModel`. Raises ImpastoError for a model that cannot be used.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        config: SessionConfig | None = None,
        precision: str | None = None,
        io_binding: bool | None = None,
    ) -> None:
        self.net = TransformerModel(model or default_name(TRANSFORMER), config, precision, io_binding)

    @classmethod
    def of(cls, net: TransformerModel) -> Stylizer:
        """A Stylizer around an open net (one session shared by several styles of a net of several styles)."""
        stylizer = cls.__new__(cls)
        stylizer.net = net
        return stylizer

    @property
    def name(self) -> str:
        return self.net.name

    @property
    def min_side(self) -> int:
        return self.net.min_side

    def net_size(self, height: int, width: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
        """(height, width) the net sees for an image of ``height``×``width`` at ``size``; ImpastoError when a side
        is, or would become, smaller than the net accepts (checked before any work)."""
        if min(height, width) < self.min_side:
            raise ImpastoError(f"image is {width}×{height} pixels; {self.name} needs at least {self.min_side} a side")
        if isinstance(size, tuple):
            target = size
        elif size:
            new_width, new_height = long_side_size((height, width), size)
            target = (new_height, new_width)
        else:
            target = (height, width)
        if min(target) < self.min_side:
            raise ImpastoError(
                f"image is {width}×{height} pixels: at {describe_size(size)} it would be {target[1]}×{target[0]}, "
                f"below the {self.min_side} px a side {self.name} needs; use a larger size"
            )
        return target

    def prepare(self, image: np.ndarray, size: int | tuple[int, int] | None) -> np.ndarray:
        """The image as the net will see it: scaled so its long side is ``size``, or to exactly (height, width)
        (None: unchanged), and checked (see :meth:`net_size`)."""
        height, width = image.shape[:2]
        target = self.net_size(height, width, size)
        return image if target == (height, width) else resize(image, (target[1], target[0]))

    def render(self, prepared: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """An image as :meth:`prepare` returns it → stylised (tiled when large), colours restored if asked."""
        if options.tile is None:
            out = self.net.stylize(prepared)
        else:
            out = stylize_large(self.net, prepared, options.tile, options.tile_overlap, options.stats_side)
        return self._finish(out, prepared, options)

    @staticmethod
    def _finish(out: np.ndarray, prepared: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """Colours restored if asked, then blended with the input by ``strength`` (0: the input, 1: the result)."""
        if options.preserve_color:
            out = restore_chroma(out, prepared)
        if options.strength < 1.0:
            out = prepared + np.float32(options.strength) * (out - prepared)
        return out

    def stylize(
        self,
        image: np.ndarray,
        *,
        size: int | tuple[int, int] | None = None,
        preserve_color: bool = False,
        tile: int | None = DEFAULT_TILE,
        overlap: int | None = None,
        stats_side: int | None = None,
        strength: float = 1.0,
    ) -> np.ndarray:
        """H×W×3 float32 RGB 0–255 → the stylised image, float32 RGB 0–255, at long side ``size`` or exactly
        (height, width) (None: the input's size). Large images go tile by tile with the whole image's normalisation
        statistics (no seams); ``preserve_color`` keeps the input's chroma (YIQ) under the result's luminance;
        ``strength`` blends the result with the input (0: the input, 1: the result). See
        :class:`StylizeOptions`; ImpastoError for a size below the net's minimum side."""
        options = StylizeOptions(size, preserve_color, tile, overlap, stats_side, strength)
        return self.stylize_with(image, options)

    def stylize_with(self, image: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """:meth:`stylize` with the options as one object."""
        return self.render(self.prepare(image, options.size), options)

    def stylize_many(self, images: list[np.ndarray], options: StylizeOptions) -> list[np.ndarray]:
        """Several images; those that come out one size and fit one tile run as one batch (one session run)."""
        prepared = [self.prepare(image, options.size) for image in images]
        shapes = {image.shape for image in prepared}
        single = options.tile is None or all(
            tile_count(i.shape, options.tile, options.tile_overlap) == 1 for i in prepared
        )
        if len(prepared) < 2 or len(shapes) != 1 or not single:
            return [self.render(image, options) for image in prepared]
        results = self.net.stylize_batch(prepared)
        return [self._finish(out, image, options) for out, image in zip(results, prepared, strict=True)]

    def stream(
        self,
        size: int | tuple[int, int] | None = None,
        preserve_color: bool = False,
        blend: float = 0.0,
        strength: float = 1.0,
    ) -> FrameStream:
        """A stateful per-video path: frames in, stylised frames of the same size out, temporally blended."""
        return FrameStream(self, StylizeOptions(size, preserve_color, tile=None, strength=strength), blend)


class FrameStream:
    """One video's frames through a :class:`Stylizer`: each frame at ``options.size``, in one pass (frames are
    small), blended with the flow-warped previous output when ``blend`` > 0, and returned at the frame's own size."""

    def __init__(self, stylizer: Stylizer, options: StylizeOptions, blend: float = 0.0) -> None:
        if not 0.0 <= blend < 1.0:
            raise ImpastoError(f"blend must be in [0, 1), not {blend}")
        self.stylizer, self.options, self.blend = stylizer, options, blend
        self.blender = TemporalBlender(blend) if blend > 0 else None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """H×W×3 float32 RGB 0–255 → the same shape, stylised."""
        small = self.stylizer.prepare(frame, self.options.size)
        out = self.stylizer.render(small, self.options)
        if self.blender is not None:
            out = self.blender.apply(small, out)
        return out if out.shape == frame.shape else resize(out, (frame.shape[1], frame.shape[0]))


class StylizerCache:
    """Stylizers by model name, each opened once on first use and shared (the server's pool, the webcam's models)."""

    def __init__(self, config: SessionConfig | None = None, precision: str | None = None) -> None:
        self.config, self.precision = config or SessionConfig(), precision
        self._stylizers: dict[str, Stylizer] = {}
        self._nets: dict[Path, TransformerModel] = {}  # one session per file, shared by the styles inside it
        self._lock = threading.Lock()

    def get(self, model: str) -> Stylizer:
        """The Stylizer of ``model`` (a name, a style or blend of a net of several styles, or a path), opening its
        file on first use; ImpastoError as :class:`Stylizer`."""
        with self._lock:
            if model not in self._stylizers:
                for open_net in self._nets.values():  # a style of a net already open (even one opened by path)
                    if model in open_net.styles:
                        weights = tuple(float(style == model) for style in open_net.styles)
                        self._stylizers[model] = Stylizer.of(open_net.with_style(weights, name=model))
                        return self._stylizers[model]
                resolved = resolve(model, TRANSFORMER, self.precision)
                net = self._nets.get(resolved.path)
                if net is None:
                    net = self._nets[resolved.path] = TransformerModel(model, self.config, self.precision)
                if resolved.style_weights is not None:
                    net = net.with_style(resolved.style_weights, name=str(model))
                self._stylizers[model] = Stylizer.of(net)
            return self._stylizers[model]

    def loaded(self) -> list[str]:
        """Names of the models opened so far."""
        with self._lock:
            return sorted(s.name for s in self._stylizers.values())
