"""Tiled stylisation of images of any aspect ratio: the shared statistics come from a copy bounded by pixel count."""

from __future__ import annotations

import numpy as np
from conftest import photo, shipped_transformer_names

from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize
from impasto.runtime.nets.tiling import statistics_copy, stylize_large, stylize_tiled, tile_count
from impasto.runtime.nets.transformer import TransformerModel


def _strip() -> np.ndarray:
    """Four real photos side by side, 3600×600: sky, fur, a cup and a rocket in one wide scene."""
    names = ("astronaut", "chelsea", "coffee", "rocket")
    return np.concatenate([resize(read_image(photo(name)), (900, 600)) for name in names], axis=1)


def test_a_panorama_tiled_stays_within_3_levels_of_one_pass():
    model = TransformerModel(shipped_transformer_names()[0])
    panorama = resize(_strip(), (4800, 600))
    assert tile_count(panorama.shape, 1024, 128) == 6
    whole = model.stylize(panorama)
    tiled = stylize_large(model, panorama, 1024, 128)  # the default statistics copy: 2.1 M of 2.9 M pixels
    naive = stylize_tiled(model.stylize, panorama, 1024, 128)  # each tile its own statistics
    difference = np.abs(tiled - whole).mean()
    assert difference < 3.0, difference  # 1.2 here; a copy by long side (4 times fewer pixels) was 13 with v1
    assert np.abs(naive - whole).mean() > 4 * difference  # 18: the shared statistics are what brings it close


def test_the_statistics_copy_is_bounded_by_pixels_whatever_the_aspect_ratio():
    for height, width in ((600, 4800), (4800, 600), (1470, 1960), (300, 20000)):
        image = np.zeros((height, width, 3), np.float32)
        copy = statistics_copy(image, 1024)
        pixels = copy.shape[0] * copy.shape[1]
        assert abs(pixels - 1024 * 1024) <= copy.shape[0] + copy.shape[1]  # the budget, to a row and a column
        assert abs(copy.shape[1] / copy.shape[0] - width / height) < 0.02 * width / height
    small = np.zeros((600, 800, 3), np.float32)
    assert statistics_copy(small, 1024) is small  # exact statistics when the image has no more pixels


def test_a_thin_strip_is_not_shrunk_below_what_the_net_can_pad():
    """A 16×500000 strip must not become an 8-px-high copy: the net's 8-px reflection border cannot pad that."""
    model = TransformerModel(shipped_transformer_names()[0])
    assert statistics_copy(np.zeros((16, 50000, 3), np.float32), 1024, model.min_side).shape[0] == 16
    strip = resize(_strip(), (6000, 24))  # 144 000 pixels, in 1024-px tiles: copy 24 px high, not 4
    tiled = stylize_large(model, strip, 1024, 128, stats_side=128)
    assert tiled.shape == strip.shape
