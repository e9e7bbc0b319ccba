"""Every kind of bad input: one clear line on stderr, a non-zero exit, no output file, never a traceback."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_failure, photo, run_cli

from impasto.runtime import ImpastoError, read_image


def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height, with a tiny (wrong-sized) image data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    jpeg = photo("rocket").read_bytes()
    png = photo("chelsea").read_bytes()
    files = {
        "zero_bytes": b"",
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "truncated_png": png[: len(png) // 2],
        "not_an_image": b"hello, this is text\n" * 20,
        "huge_header": _png_with_header(100_000, 100_000),
    }
    paths = {}
    for name, data in files.items():
        suffix = ".jpg" if "jpeg" in name else ".png"
        paths[name] = folder / f"{name}{suffix}"
        paths[name].write_bytes(data)
    paths["one_pixel"] = folder / "one_pixel.png"
    cv2.imwrite(str(paths["one_pixel"]), np.zeros((1, 1, 3), np.uint8))
    paths["not_onnx"] = folder / "model.onnx"
    paths["not_onnx"].write_bytes(b"\x00\x01 definitely not protobuf" * 50)
    paths["wrong_kind_onnx"] = folder / "identity.onnx"
    paths["wrong_kind_onnx"].write_bytes(_identity_onnx())
    paths["missing"] = folder / "missing.jpg"
    return paths


def _identity_onnx() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])], "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, None, None])],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


CASES = {
    "missing": ("no such file",),
    "zero_bytes": ("empty file",),
    "truncated_jpeg": ("truncated or corrupt",),
    "truncated_png": ("truncated or corrupt",),
    "not_an_image": ("cannot decode",),
    "huge_header": ("header claims 10,000,000,000 pixels, more than",),
    "one_pixel": ("1×1 pixels",),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_images(case, role, bad_files, tmp_path):
    output = tmp_path / "out.png"
    good = photo("chelsea")
    images = {"content": good, "style": good, role: bad_files[case]}
    done = run_cli("optimize", "--content", images["content"], "--style", images["style"], "--size", "32",
                   "--iters", "1", "-o", output, "--quiet")  # fmt: skip
    assert_one_line_failure(done, output, str(bad_files[case]), *CASES[case])


def test_huge_header_is_named_as_such(bad_files):
    with pytest.raises(ImpastoError, match="header claims 10,000,000,000 pixels, more than"):
        read_image(bad_files["huge_header"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--size", "0"), "--size"),
        (("--iters", "0"), "--iters"),
        (("--style-weight", "-1"), "--style-weight"),
        (("--content-weight", "-0.5"), "--content-weight"),
        (("--tv-weight", "nan"), "--tv-weight"),
        (("--style-scale", "0"), "--style-scale"),
        (("--size", "8"), "at least 16"),
        (("--style-blend", "1", "2"), "2 blend weights given for 1 style"),
        (("--provider", "tpu"), "--provider"),
        (("--preset", "turbo"), "--preset"),
        (("--init", "photo"), "--init"),
        (("--save-every", "0"), "--save-every"),
    ],
)
def test_bad_settings(args, fragment, tmp_path):
    output = tmp_path / "out.png"
    done = run_cli("optimize", *args, "--iters" if "--iters" not in args else "--seed", "1", "-o", output, "--quiet")
    assert_one_line_failure(done, output, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--preset", "fast", "--iters", "5"), "give --preset or --iters, not both"),
        (("--preset", "best", "--scales", "2"), "give --preset or --scales, not both"),
        (("--save-every", "5", "-o", "-"), "--save-every names its snapshots after the output file"),
    ],
)
def test_schedule_and_snapshot_options_that_cannot_go_together(args, fragment, tmp_path):
    """Refused in one line with exit status 2, before the loss graph is opened (the run would take minutes)."""
    output = tmp_path / "out.png"
    started = time.monotonic()
    done = run_cli("optimize", "--size", "512", *args, *(("-o", output) if "-o" not in args else ()), "--quiet")
    assert done.returncode == 2
    assert_one_line_failure(done, output, fragment)
    assert "loss graph" not in done.stderr and not output.exists() and time.monotonic() - started < 60


@pytest.mark.parametrize("where", ["folder", "input"])
def test_a_snapshot_name_that_cannot_be_written_is_refused_before_any_work(where, tmp_path):
    """--save-every 2 with --iters 3 --scales 2 (3 + 1 iterations) writes out-0002.png and out-0004.png: one of them
    already a folder, or the content photo itself, is refused in one line before the loss graph is opened."""
    output = tmp_path / "out.png"
    content = tmp_path / "photo.png"
    content.write_bytes(photo("coffee").read_bytes())
    if where == "folder":
        (tmp_path / "out-0004.png").mkdir()
    else:
        content = content.rename(tmp_path / "out-0004.png")
    done = run_cli("optimize", "--content", content, "--size", "64", "--iters", "3", "--scales", "2",
                   "--save-every", "2", "-o", output, "--quiet")  # fmt: skip
    assert done.returncode == 2
    assert_one_line_failure(done, output, str(tmp_path / "out-0004.png"), "folder" if where == "folder" else "input")
    assert not output.exists() and not (tmp_path / "out-0002.png").exists()
    assert done.returncode == 2 and "loss graph" not in done.stderr


@pytest.mark.parametrize("case", ["not_onnx", "wrong_kind_onnx", "missing_model"])
def test_bad_models(case, bad_files, tmp_path):
    output = tmp_path / "out.png"
    model = {"missing_model": tmp_path / "nope.onnx"}.get(case) or bad_files[case]
    done = run_cli("optimize", "--model", model, "--size", "32", "--iters", "1", "-o", output, "--quiet")
    expected = {"not_onnx": "not a loadable ONNX model", "wrong_kind_onnx": "not an Impasto Gatys loss graph",
                "missing_model": "no such model file"}[case]  # fmt: skip
    assert_one_line_failure(done, output, expected)


def test_extreme_aspect_ratio_is_refused_before_onnxruntime_sees_it(tmp_path):
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.full((16, 600, 3), 128, np.uint8))
    output = tmp_path / "out.png"
    done = run_cli("optimize", "--content", strip, "--size", "64", "--iters", "1", "-o", output, "--quiet")
    assert_one_line_failure(done, output, "the content image is 64×2 pixels", "at least 16 per side")
    done = run_cli("optimize", "--style-scale", "0.05", "--size", "64", "--iters", "1", "-o", output, "--quiet")
    assert_one_line_failure(done, output, "a style image is", "at least 16 per side")


def test_unknown_model_name(tmp_path):
    output = tmp_path / "out.png"
    done = run_cli("optimize", "--model", "van-gogh-9000", "-o", output, "--quiet")
    assert_one_line_failure(done, output, "no model named 'van-gogh-9000'", "vgg16-avg")


@pytest.mark.parametrize(
    ("name", "fragment"), [("missing_dir/out.png", "does not exist"), ("out.gif", "unsupported output type")]
)
def test_unwritable_outputs(name, fragment, tmp_path):
    output = tmp_path / name
    done = run_cli("optimize", "--size", "32", "--iters", "1", "-o", output, "--quiet")
    assert_one_line_failure(done, output, fragment)


def test_grayscale_rgba_and_16_bit_images_are_accepted(tmp_path):
    rgb = read_image(photo("chelsea"))
    bgr8 = np.clip(rgb[:, :, ::-1], 0, 255).astype(np.uint8)
    gray = cv2.cvtColor(bgr8, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    bgra = np.dstack([bgr8, np.full(gray.shape, 255, np.uint8)])
    bgra[:, : bgra.shape[1] // 2, 3] = 0  # left half fully transparent
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    cv2.imwrite(str(tmp_path / "deep.png"), bgr8.astype(np.uint16) * 257)

    gray_read = read_image(tmp_path / "gray.png")
    assert gray_read.shape == rgb.shape and np.array_equal(gray_read[:, :, 0], gray_read[:, :, 2])
    rgba_read = read_image(tmp_path / "rgba.png")
    assert np.all(rgba_read[:, : rgb.shape[1] // 2] == 255.0)  # composited on white
    np.testing.assert_allclose(rgba_read[:, -10:], np.rint(rgb[:, -10:]), atol=0.5)
    np.testing.assert_allclose(read_image(tmp_path / "deep.png"), np.rint(rgb), atol=1e-3)

    output = tmp_path / "out.jpg"
    done = run_cli(
        "optimize", "--content", tmp_path / "deep.png", "--style", tmp_path / "rgba.png",
        "--style", tmp_path / "gray.png", "--size", "32", "--iters", "2", "-o", output, "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert cv2.imread(str(output)).shape == (21, 32, 3)


def test_models_command_verifies_checksums():
    done = run_cli("models", "--verify")
    assert done.returncode == 0, done.stderr
    assert "vgg16-avg" in done.stdout and "vgg16-max" in done.stdout and "checksums OK" in done.stdout
