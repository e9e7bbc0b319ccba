"""The grid-share measure of period-2 artefacts (issue 11's definition), on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo

from impasto.runtime.media.decode import read_image
from impasto.runtime.nets.artefacts import grid_share


def _smooth_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Noise low-passed so its spectrum falls like a photograph's (1/f²)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.normal(size=(height, width)))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    image = np.real(np.fft.ifft2(spectrum / np.maximum(np.hypot(fx, fy), 1 / max(height, width))))
    image = (image - image.min()) / np.ptp(image) * 255
    return np.repeat(image[:, :, None], 3, axis=2)


def test_photographs_have_almost_no_energy_on_the_nyquist_lines():
    for stem in ("astronaut", "chelsea", "coffee"):
        assert grid_share(read_image(photo(stem))) < 0.015, stem


def test_a_two_pixel_grid_is_measured_and_grows_with_its_strength():
    base = _smooth_texture(240, 320)
    yy, xx = np.mgrid[0:240, 0:320]
    checker = ((yy + xx) % 2 * 2 - 1)[:, :, None].astype(np.float64)
    rows = (yy % 2 * 2 - 1)[:, :, None].astype(np.float64)
    clean = grid_share(base)
    faint, strong = grid_share(base + 2 * checker), grid_share(base + 8 * checker)
    assert clean < 0.02 < faint < strong <= 1.0
    assert grid_share(base + 8 * rows) > 10 * clean  # alternating rows: energy on the line |fy| = 0.5
    # odd sides are cropped to even ones; the measure does not depend on the image's mean or on gray vs RGB
    assert grid_share(base[:239, :319] + 8 * checker[:239, :319]) == pytest.approx(strong, rel=0.05)
    assert grid_share(base + 50) == pytest.approx(clean, rel=1e-6)
    assert grid_share(base[:, :, 0]) == pytest.approx(clean, rel=1e-6)


def test_white_noise_puts_the_nyquist_bands_share_of_area_there():
    noise = np.random.default_rng(1).normal(128, 30, (256, 256))
    # a flat spectrum: the share is the bands' share of the high-frequency bins. Of 256 bins per axis, 3 lie within
    # 1.5 bins of 0.5 cycles/px and 129 at or below 0.25 (|k| ≤ 64)
    band = 256 * 256 - (256 - 3) ** 2
    high = 256 * 256 - 129 * 129
    assert grid_share(noise) == pytest.approx(band / high, rel=0.15)


def test_too_small_or_flat_images_are_refused():
    with pytest.raises(ValueError):
        grid_share(np.zeros((6, 40, 3)))
    with pytest.raises(ValueError):
        grid_share(np.full((32, 32, 3), 7.0))


def test_border_contrast_measures_a_dark_or_light_frame_and_nothing_else():
    from impasto.runtime.nets.artefacts import border_contrast

    base = _smooth_texture(120, 160)
    assert abs(border_contrast(base)) < 3
    for stem in ("astronaut", "chelsea", "coffee"):
        assert abs(border_contrast(read_image(photo(stem)))) < 4, stem
    framed = base.copy()
    framed[:3], framed[-3:], framed[:, :3], framed[:, -3:] = (
        v - 20 for v in (framed[:3], framed[-3:], framed[:, :3], framed[:, -3:])
    )
    assert border_contrast(framed) == pytest.approx(border_contrast(base) - 20, abs=0.5)
    lighter = base.copy()
    lighter[:, :3] += 12  # one side only: a quarter of the frame or so
    assert 1.5 < border_contrast(lighter) - border_contrast(base) < 5
    deep = base.copy()
    deep[40:80, 60:100] -= 50  # a dark patch inside the image, away from the border, is not a frame
    assert border_contrast(deep) == pytest.approx(border_contrast(base), abs=1e-9)
    with pytest.raises(ValueError):
        border_contrast(base[:20])
