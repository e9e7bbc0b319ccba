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
        assert copy.shape[0] * copy.shape[1] <= 1024 * 1024
        assert copy.shape[0] * copy.shape[1] > 0.99 * 1024 * 1024 - (copy.shape[0] + copy.shape[1])  # the budget used
        assert abs(copy.shape[1] / copy.shape[0] - width / height) < 0.02 * width / height
    small = np.zeros((600, 800, 3), np.float32)
    assert statistics_copy(small, 1024) is small  # exact statistics when the image has no more pixels
