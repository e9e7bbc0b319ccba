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
    with pytest.raises(ImpastoError, match="different nets"):
        Stylizer("duo-a:0.5,great-wave:0.5")  # a style of the shipped net: two files cannot blend in one pass
    with pytest.raises(ImpastoError, match="not a style"):
        Stylizer("duo-a:0.5,no-such-style:0.5")
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
    from impasto.runtime.core.registry import TRANSFORMER, all_entries, names
    from impasto.runtime.nets.sheet import LABEL_HEIGHT, contact_sheet, sheet_models

    shown = sheet_models()
    (six,) = [entry.styles for entry in all_entries(TRANSFORMER) if entry.name == "six-paintings"]
    assert len(six) == 6 and names(TRANSFORMER) == ["six-paintings", "duo"]
    # every style of every net, then three half-and-half blends of neighbouring styles (the shipped net's first)
    assert shown == [*six, *STYLES] + [f"{a}:0.5,{b}:0.5" for a, b in zip(six[:3], six[1:4], strict=True)]
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
    shown.clear()  # started on one style (as `impasto webcam` starts on the default style): m goes to the next
    run_webcam(str(clip), WebcamSettings(models=["duo-b"], size=None, window=False, keys=keys))
    near = [int(np.abs(out - first).mean() < np.abs(out - second).mean()) for out in shown]
    assert near[0] == 0 and near[-1] == 1 and near == sorted(near), near  # duo-b, then duo-a after m


def test_add_style_trains_only_its_rows_and_model_finds_it_by_name(duo, content_folder, tmp_path):
    """``impasto train --add-style`` (Dumoulin et al. 2017): the base's shared weights and style rows come through
    unchanged, so its styles stylise exactly as before; only the new row moved; the new style is found by name, and
    blends with the base's styles in the new net."""
    import shutil

    import onnx
    from conftest import painting, run_cli
    from onnx import numpy_helper

    new_style = tmp_path / "duo-c.jpg"  # a name no other model or style has
    shutil.copy(painting("udnie"), new_style)
    out = tmp_path / "out"
    done = run_cli(
        "train", "--add-style", new_style, "--base", "duo", "--content-dir", content_folder,
        "--size", "32", "--style-size", "64", "--batch-size", "1", "--iterations", "3", "--learning-rate", "0.05",
        "--work", tmp_path / "work", "-o", out, "--no-download", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads((out / "manifest.json").read_text())["models"]
    assert entry["name"] == "duo-plus-duo-c" and entry["styles"] == [*STYLES, "duo-c"]
    assert entry["metadata"]["style"] == "a.jpg, b.jpg, duo-c.jpg"  # one painting per style, base's first
    assert json.loads(entry["metadata"]["base"])["name"] == "duo"
    assert str(tmp_path) not in entry["metadata"]["training"]  # no path of this machine in the shipped metadata
    grown = out / "duo-plus-duo-c.onnx"

    def weights(path) -> dict[str, np.ndarray]:
        model = onnx.load(str(path))
        return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name.startswith("net.")}

    before, after = weights(duo["fp32"]), weights(grown)
    assert set(before) == set(after)
    rows = 0
    for name, value in before.items():
        if value.shape != after[name].shape:  # a normalisation's [N, C] scale or bias: one row more
            rows += 1
            np.testing.assert_array_equal(after[name][:2], value, err_msg=name)
            assert not np.allclose(after[name][2], value.mean(0)), f"{name}: the new row did not learn"
        else:
            np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert rows == 2 * 11  # scale and bias of the 11 conditional normalisations of light2-8
    image = read_image(photo("chelsea"))[:64, :80]
    for index in (0, 1):
        one_hot = [1.0 if i == index else 0.0 for i in range(2)]
        base_result = _direct(duo["fp32"], image, one_hot)
        np.testing.assert_allclose(_direct(grown, image, [*one_hot, 0.0]), base_result, atol=1e-3)

    os.environ["IMPASTO_MODELS"] = os.pathsep.join([str(duo["folder"]), str(out)])
    try:
        resolved = resolve("duo-c", "transformer", "fp32")
        assert resolved.path == grown and resolved.style_weights == (0.0, 0.0, 1.0)
        mixed = resolve("duo-a:0.5,duo-c:0.5", "transformer", "fp32")  # the grown net holds both
        assert mixed.path == grown and mixed.style_weights == (0.5, 0.0, 0.5)
        result = tmp_path / "duo-c.png"
        done = run_cli("stylize", photo("chelsea"), "--model", "duo-c", "--size", "64", "-o", result, "--quiet")
        assert done.returncode == 0 and result.is_file(), done.stderr
    finally:
        os.environ["IMPASTO_MODELS"] = str(duo["folder"])


def test_add_style_refuses_in_one_line(duo, content_folder, tmp_path):
    import shutil

    from conftest import assert_one_line_failure, painting, run_cli

    from impasto.export.training.transformer import build
    from impasto.export.training.transformer_export import export_transformer

    out = tmp_path / "out"
    common = ("--content-dir", content_folder, "-o", out, "--no-download", "--work", tmp_path / "w")
    done = run_cli("train", "--add-style", painting("udnie"), *common)
    assert_one_line_failure(done, out / "manifest.json", "--add-style needs --base")
    done = run_cli("train", "--style", painting("udnie"), "--base", "duo", *common)
    assert_one_line_failure(done, out / "manifest.json", "--base is for --add-style")
    new_style = tmp_path / "duo-c.jpg"
    shutil.copy(painting("udnie"), new_style)
    done = run_cli("train", "--add-style", new_style, "--base", "duo", "--architecture", "full", *common)
    assert_one_line_failure(done, out / "manifest.json", "--architecture full: duo is light2-8")
    for taken, fragment in (("duo-a", "already has a style named duo-a"), ("duo", "already names a model")):
        clash = tmp_path / f"{taken}.jpg"
        shutil.copy(painting("udnie"), clash)
        done = run_cli("train", "--add-style", clash, "--base", "duo", *common)
        assert_one_line_failure(done, out / "manifest.json", fragment)
    done = run_cli("train", "--add-style", new_style, "--base", "no-such-net", *common)
    assert_one_line_failure(done, out / "manifest.json", "no-such-net")
    single = tmp_path / "single.onnx"  # a one-style net has no rows to add to
    export_transformer(build("light2-8"), single, {"name": "single", "style": "u.jpg"})
    done = run_cli("train", "--add-style", new_style, "--base", single, *common)
    assert_one_line_failure(done, out / "manifest.json", "holds one style")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a net")
    done = run_cli("train", "--add-style", new_style, "--base", broken, *common)
    assert done.returncode != 0 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
