"""Stylising images too large for one pass: overlapping tiles, blended with linear ramps so no seam shows.

A 4000×3000 photo through the full net in one pass needs several GiB per activation; tiles of 1024 px need
about 1/10 of that. Each tile's ramp falls to near zero at its edges, where reflection padding and a different
neighbourhood make it least like the whole-image result, and the weighted sum is normalised, so any overlap
of at least the ramp length blends smoothly.

Two things make a tile differ from the same region of an untiled pass, and both are handled: tiles start on the
net's stride grid (``tile_spans``), and instance normalisation is given the whole image's statistics instead of
each tile's own (``global_norm.py``; ``stylize_large`` does both).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from impasto.runtime.media.resize import resize
from impasto.runtime.nets.transformer import TransformerModel

DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
ALIGN = 4  # both architectures downsample twice by 2


def tile_spans(length: int, tile: int, overlap: int, align: int = ALIGN) -> list[tuple[int, int]]:
    """(start, end) of tiles covering ``length`` px, neighbours sharing ≥ ``overlap`` px.

    Every start is a multiple of ``align``, the net's total stride: only on that grid do a tile's strided
    convolutions sample the pixels the whole image's do (unaligned 512-px tiles differed from the untiled result by
    43 levels on average in their interiors, aligned ones by 0.1 given the same normalisation statistics). So the
    last tile may be up to ``align`` − 1 px longer than ``tile``.
    """
    if length <= tile:
        return [(0, length)]
    step = (tile - overlap) // align * align
    last = (length - tile) // align * align
    starts = sorted({*range(0, last, step), last})
    return [(start, min(start + tile, length)) for start in starts[:-1]] + [(last, length)]


def _ramp(length: int, ramp: int, fade_start: bool, fade_end: bool) -> np.ndarray:
    position = np.arange(length, dtype=np.float32) + 0.5
    weight = np.ones(length, dtype=np.float32)
    if fade_start:
        weight = np.minimum(weight, position / ramp)
    if fade_end:
        weight = np.minimum(weight, (length - position) / ramp)
    return weight


def stylize_tiled(
    stylize: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: Callable[[], None] | None = None,
) -> np.ndarray:
    """Apply ``stylize`` (H×W×3 → H×W×3) tile by tile; one pass when the image fits in one tile."""
    if overlap * 2 > tile:
        raise ValueError(f"overlap {overlap} must be at most half the tile size {tile}")
    height, width = image.shape[:2]
    rows, columns = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    if len(rows) == 1 and len(columns) == 1:
        return stylize(image)
    total = np.zeros((height, width, 3), dtype=np.float32)
    weights = np.zeros((height, width, 1), dtype=np.float32)
    for top, bottom in rows:
        for left, right in columns:
            out = stylize(np.ascontiguousarray(image[top:bottom, left:right]))
            wy = _ramp(bottom - top, overlap, top > 0, bottom < height)
            wx = _ramp(right - left, overlap, left > 0, right < width)
            weight = (wy[:, None] * wx[None, :])[:, :, None]
            total[top:bottom, left:right] += out * weight
            weights[top:bottom, left:right] += weight
            if on_tile:
                on_tile()
    return total / weights


def tile_count(shape: tuple[int, ...], tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> int:
    return len(tile_spans(shape[0], tile, overlap)) * len(tile_spans(shape[1], tile, overlap))


def stylize_large(
    model: TransformerModel,
    image: np.ndarray,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    stats_side: int | None = None,
) -> np.ndarray:
    """One pass when the image fits in a tile; else tiles normalised with the whole image's statistics.

    The statistics are measured on a copy of at most ``stats_side``² pixels, exact when the image has no more (see
    :func:`statistics_copy`). The default, twice a tile's pixels, keeps that pass within two tiles' memory; on a
    4800×600 panorama and a 1960×1470 photo (2.9 M pixels each, 1024-px tiles) it gave 1.2 and 2.0 levels of mean
    difference from the one-pass result, where a copy of one tile's pixels gave 5.1 and 6.7 and each tile's own
    statistics 18 and 12 (six-paintings, starry-night; benchmarks/RESULTS.md).
    """
    if tile_count(image.shape, tile, overlap) == 1:
        return model.stylize(image)
    net = model.global_norm()
    sample = statistics_copy(image, stats_side or default_stats_side(tile), model.min_side)
    extra = model.style_feeds()  # a net of several styles: its style weights, for every pass
    stats = net.stats(sample, extra)
    return stylize_tiled(lambda part: net.stylize(part, stats, extra), image, tile, overlap)


def default_stats_side(tile: int) -> int:
    """The statistics copy's default budget, as a square's side: √2 × the tile, so twice a tile's pixels."""
    return round(tile * math.sqrt(2))


def statistics_copy(image: np.ndarray, side: int, min_side: int = 1) -> np.ndarray:
    """``image`` scaled, keeping its aspect ratio, to at most ``side``² pixels (itself when it has no more), but never
    to a short side under ``min_side`` (the net's least): a 16×500000 strip is not shrunk to 8 px, which the net's
    8-px reflection border cannot pad; such a strip's copy then exceeds the budget.

    Bounded by pixel count, not by the long side: a 4800×600 panorama copied to a 1024-px long side is 128 px high,
    too coarse for statistics that stand in for the whole image's (13 levels from the one-pass result, where a 4:3
    photo of the same pixel count was 4); with the same pixel budget it is 2896×362, and the memory the same.
    """
    height, width = image.shape[:2]
    if height * width <= side * side:
        return image
    factor = max(math.sqrt(side * side / (height * width)), min(1.0, min_side / min(height, width)))
    if factor >= 1.0:
        return image
    return resize(image, (max(1, round(width * factor)), max(1, round(height * factor))))
