"""Nets of several styles in the runtime: a style is a model name, ``a:0.7,b:0.3`` blends in one pass, styles of one
file share one session, and tiling, the CLI and the server take them. The net is made here (untrained, with
different normalisation rows per style), exported by the export side, and listed in a manifest of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import photo

from impasto.runtime.core.registry import MODELS_PATH_VARIABLE, resolve
from impasto.runtime.media.decode import read_image
from impasto.runtime.nets.stylizer import Stylizer, StylizerCache
from impasto.runtime.nets.transformer import TransformerModel

STYLES = ["duo-a", "duo-b"]


@pytest.fixture(scope="module")
def duo(tmp_path_factory) -> dict:
    from impasto.export.cli import transformer_manifest_entry, update_manifest
    from impasto.export.training.transformer import ConditionalInstanceNorm, build
    from impasto.export.training.transformer_export import export_transformer

    folder = tmp_path_factory.mktemp("duo")
    torch.manual_seed(0)
    net = build("light2-8", styles=2)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, ConditionalInstanceNorm):  # untrained rows are equal: make the styles differ
                module.weight.copy_(1 + 0.5 * torch.randn_like(module.weight))
                module.bias.copy_(0.5 * torch.randn_like(module.bias))
    metadata = {"name": "duo", "style": "a.jpg, b.jpg", "styles": json.dumps(STYLES)}
    fp32, fp16 = export_transformer(net, folder / "duo.onnx", metadata)
    update_manifest(folder, [transformer_manifest_entry(fp32, {"fp16": fp16})])
    previous = os.environ.get(MODELS_PATH_VARIABLE)
    os.environ[MODELS_PATH_VARIABLE] = str(folder)
    yield {"folder": folder, "fp32": fp32}
    if previous is None:
        os.environ.pop(MODELS_PATH_VARIABLE, None)
    else:
        os.environ[MODELS_PATH_VARIABLE] = previous


def _direct(path, image: np.ndarray, weights: list[float]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"image": image.transpose(2, 0, 1)[None].copy(), "style_weights": np.array([weights], np.float32)}
    return session.run(None, feeds)[0][0].transpose(1, 2, 0)


def test_a_style_is_a_model_name_and_a_blend_is_one_pass(duo):
    image = read_image(photo("chelsea"))
    small = Stylizer("duo").prepare(image, 96)
    a, b = Stylizer("duo-a").stylize(small), Stylizer("duo-b").stylize(small)
    np.testing.assert_allclose(a, _direct(duo["fp32"], small, [1, 0]), atol=1e-3)
    np.testing.assert_allclose(b, _direct(duo["fp32"], small, [0, 1]), atol=1e-3)
    assert np.abs(a - b).mean() > 2  # two different styles
    blend = Stylizer("duo-a:0.7,duo-b:0.3").stylize(small)
    np.testing.assert_allclose(blend, _direct(duo["fp32"], small, [0.7, 0.3]), atol=1e-3)
    np.testing.assert_array_equal(Stylizer("duo-a:7,duo-b:3").stylize(small), blend)  # weights are normalised
    np.testing.assert_array_equal(Stylizer("duo-a:1,duo-b:0").stylize(small), a)  # (1, 0): exactly the style
    np.testing.assert_array_equal(Stylizer("duo").stylize(small), a)  # the file alone: its first style
    assert resolve("duo-b").style_weights == (0.0, 1.0)


def test_styles_of_one_file_share_one_session(duo):
    cache = StylizerCache()
    a, b, blend = cache.get("duo-a"), cache.get("duo-b"), cache.get("duo-a:0.5,duo-b:0.5")
    assert a.net.session is b.net.session is blend.net.session
    assert (a.name, b.name) == ("duo-a", "duo-b")
    by_path = StylizerCache()
    opened = by_path.get(str(duo["fp32"]))
    assert by_path.get("duo-b").net.session is opened.net.session  # a style of a file opened by path


def test_tiles_of_a_net_of_several_styles_match_one_pass(duo):
    image = read_image(photo("coffee"))
    stylizer = Stylizer("duo-b")
    whole = stylizer.stylize(image, size=400, tile=None)
    tiled = stylizer.stylize(image, size=400, tile=192, stats_side=400)
    assert np.abs(whole - tiled).mean() < 3.0


def test_blends_are_refused_across_files_and_with_bad_weights(duo):
    from impasto.runtime.core.errors import ImpastoError

    with pytest.raises(ImpastoError, match="add up to 0"):
        Stylizer("duo-a:0,duo-b:0")
    with pytest.raises(ImpastoError, match="not a style"):
        Stylizer("duo-a:0.5,great-wave-light:0.5")
    with pytest.raises(ImpastoError, match="not a weight"):
        Stylizer("duo-a:x")
    with pytest.raises(ImpastoError, match="styles"):
        TransformerModel(duo["fp32"]).with_style((1.0,))


def test_the_cli_takes_a_blend(duo, tmp_path):
    out_dir = tmp_path / "out"
    command = [sys.executable, "-m", "impasto.runtime.cli", "stylize", photo("chelsea"), "--model",
               "duo-a:0.7,duo-b:0.3", "--size", "64", "-o", f"{out_dir}/"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    (written,) = out_dir.iterdir()
    assert written.name == "chelsea-duo-a-0.7-duo-b-0.3.png"


def test_the_sheet_shows_the_photo_every_style_and_blends(duo, tmp_path):
    from impasto.runtime.core.registry import TRANSFORMER, names
    from impasto.runtime.nets.sheet import LABEL_HEIGHT, contact_sheet, sheet_models

    shown = sheet_models()
    assert [n for n in names(TRANSFORMER) if n != "duo"] + STYLES == shown[: len(shown) - 1]
    assert shown[-1] == "duo-a:0.5,duo-b:0.5"  # a blend of neighbouring styles of the net of several styles
    image = read_image(photo("chelsea"))
    sheet = contact_sheet(image, ["duo-a", "duo-b:1"], size=96, columns=3)
    panel = Stylizer("duo").prepare(image, 96)
    height, width = panel.shape[:2]
    assert sheet.shape == (height + LABEL_HEIGHT, 3 * width + 2 * 4, 3)
    np.testing.assert_array_equal(sheet[:height, :width], panel)  # the photo first
    np.testing.assert_allclose(sheet[:height, width + 4 : 2 * width + 4], Stylizer("duo-a").stylize(panel), atol=1e-4)
    out = tmp_path / "sheet.png"
    command = [sys.executable, "-m", "impasto.runtime.cli", "sheet", photo("coffee"), "--size", "64", "-o", out]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0 and out.is_file(), done.stderr


def test_precision_variants_of_a_net_of_several_styles_cover_every_style(duo, tmp_path):
    from impasto.export.precision import measure_variant, to_int8

    photos = [photo(stem) for stem in ("chelsea", "coffee", "astronaut", "rocket")]
    int8 = tmp_path / "duo.int8.onnx"
    int8.write_bytes(to_int8(duo["fp32"], photos, side=96).SerializeToString())
    quality = measure_variant(duo["fp32"], int8, photos[:2], side=96)
    assert set(quality.psnr_db) == {f"{p.stem}/{s}" for p in photos[:2] for s in STYLES}
    assert quality.worst_db > 15  # an untrained net, quantised: close, not exact
    fp16 = measure_variant(duo["fp32"], duo["fp32"].with_name("duo.fp16.onnx"), photos[:1], side=96)
    assert fp16.worst_db > 40


def test_the_webcam_m_key_goes_round_the_styles_of_one_net(duo, tmp_path):
    import cv2

    from impasto.runtime.nets.webcam import WebcamSettings, run_webcam

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    source = (read_image(photo("chelsea"))[:64, :96, ::-1]).astype(np.uint8)
    for _ in range(12):
        writer.write(source)
    writer.release()
    shown: list[np.ndarray] = []

    def keys(count: int, frame: np.ndarray) -> int | None:
        shown.append(frame.copy())
        return ord("m") if count == 3 else None

    stats = run_webcam(str(clip), WebcamSettings(models=["duo"], size=None, window=False, keys=keys))
    assert stats.frames == 12
    frame = read_image(photo("chelsea"))[:64, :96]
    first, second = Stylizer("duo-a").stream()(frame), Stylizer("duo-b").stream()(frame)
    near = [int(np.abs(out - second).mean() < np.abs(out - first).mean()) for out in shown]
    assert near[0] == 0 and near[-1] == 1 and near == sorted(near), near  # duo-a, then duo-b after m
