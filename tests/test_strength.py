"""``strength``: 0 gives the photo, 1 the net's result, and the output moves monotonically between them — through
the one stylisation path, so stylize, video, webcam, serve and batch all share it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_failure, photo, run_cli, shipped_transformers

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize
from impasto.runtime.nets.stylizer import StylizeOptions, Stylizer

NET = shipped_transformers()[0]["name"]


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer(NET)


def test_strength_zero_is_the_photo_and_one_the_result(stylizer):
    image = read_image(photo("chelsea"))
    prepared = stylizer.prepare(image, 160)
    np.testing.assert_array_equal(stylizer.stylize(image, size=160, strength=0.0), prepared)
    np.testing.assert_array_equal(stylizer.stylize(image, size=160, strength=1.0), stylizer.stylize(image, size=160))
    with_colour = stylizer.stylize(image, size=160, strength=0.0, preserve_color=True)
    assert np.abs(with_colour - prepared).max() < 0.01  # the photo's own luminance and chroma


def test_the_output_moves_monotonically_from_the_photo_to_the_result(stylizer):
    image = read_image(photo("coffee"))
    prepared, result = stylizer.prepare(image, 128), stylizer.stylize(image, size=128)
    distances = []
    for strength in np.linspace(0, 1, 11):
        out = stylizer.stylize(image, size=128, strength=float(strength))
        distances.append(float(np.abs(out - prepared).mean()))
        # a blend: the same share of the way at every pixel
        np.testing.assert_allclose(out, prepared + strength * (result - prepared), atol=1e-3)
    assert distances[0] == 0 and all(b > a for a, b in zip(distances, distances[1:], strict=False))


def test_strength_outside_zero_to_one_is_refused(stylizer, tmp_path):
    for bad in (-0.1, 1.01, float("nan")):
        with pytest.raises(ImpastoError, match="strength"):
            StylizeOptions(strength=bad)
    out = tmp_path / "o.png"
    assert_one_line_failure(run_cli("stylize", photo("chelsea"), "--strength", "2", "-o", out), out, "strength")


def test_the_stream_and_the_cli_take_strength(stylizer, tmp_path):
    frame = read_image(photo("astronaut"))
    stream = stylizer.stream(size=96, strength=0.0)
    small = stylizer.prepare(frame, 96)  # the photo as the net sees it, scaled back to the frame's size
    np.testing.assert_allclose(stream(frame), resize(small, (frame.shape[1], frame.shape[0])), atol=1e-3)
    out = tmp_path / "half.png"
    done = run_cli("stylize", photo("chelsea"), "--model", NET, "--size", "96", "--strength", "0.5", "-o", out)
    assert done.returncode == 0, done.stderr
    image = read_image(photo("chelsea"))
    expected = stylizer.stylize(image, size=96, strength=0.5)
    written = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert np.abs(written - expected).max() <= 0.5 + 1e-3  # 8-bit rounding
