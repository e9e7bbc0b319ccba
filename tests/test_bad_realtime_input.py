"""Bad input to `stylize`, `video` and `webcam`: one clear line, exit 2, nothing half-written."""

from __future__ import annotations

import os

import pytest
from conftest import REPO, assert_one_line_failure, photo, run_cli
from test_bad_input import _identity_onnx

from impasto.runtime.core.registry import TRANSFORMER, names

MODEL = names(TRANSFORMER)[0] if names(TRANSFORMER) else "missing"


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    shipped = (REPO / "models" / f"{MODEL}.onnx").read_bytes()
    (folder / "truncated.onnx").write_bytes(shipped[: len(shipped) // 2])
    (folder / "identity.onnx").write_bytes(_identity_onnx())
    (folder / "garbage.onnx").write_bytes(b"not a protobuf at all " * 40)
    return {
        "truncated": (str(folder / "truncated.onnx"), "not a loadable ONNX model"),
        "no metadata": (str(folder / "identity.onnx"), "not an Impasto transformer net"),
        "garbage": (str(folder / "garbage.onnx"), "not a loadable ONNX model"),
        "loss graph file": (str(REPO / "models" / "vgg16-avg.loss.onnx"), "kind='gatys-loss'"),
        "loss graph name": ("vgg16-max", "not a transformer net"),
        "unknown name": ("no-such-style", "no model named"),
        "missing file": (str(folder / "absent.onnx"), "no such model file"),
    }


@pytest.mark.parametrize(
    "case",
    ["truncated", "no metadata", "garbage", "loss graph file", "loss graph name", "unknown name", "missing file"],
)
def test_models_that_are_not_transformer_nets(case, bad_models, tmp_path):
    model, fragment = bad_models[case]
    output = tmp_path / "out.png"
    done = run_cli("stylize", "--model", model, "-o", output, "--quiet")
    assert_one_line_failure(done, output, fragment)
    done = run_cli("webcam", "--source", output, "--no-window", "--model", model)
    assert_one_line_failure(done, tmp_path / "none.avi", fragment)


def test_video_that_ffmpeg_cannot_read(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n" * 100)
    output = tmp_path / "out.mp4"
    assert_one_line_failure(run_cli("video", fake, "-o", output, "--model", MODEL), output, "cannot read video")
    done = run_cli("video", tmp_path / "absent.avi", "-o", output, "--model", MODEL)
    assert_one_line_failure(done, output, "no such")
    done = run_cli("webcam", "--source", fake, "--no-window", "--model", MODEL, "--record", output)
    assert_one_line_failure(done, output, "cannot read video")


def test_camera_that_does_not_exist(tmp_path):
    record = tmp_path / "rec.avi"
    done = run_cli("webcam", "--camera", "97", "--no-window", "--model", MODEL, "--record", record)
    assert_one_line_failure(done, record, "camera 97")


@pytest.mark.parametrize(
    "name, fragment",
    [("missing-folder/out.mp4", "does not exist"), ("out.webm", "unsupported video type"), ("sub.mp4", "is a folder")],
)
def test_unwritable_video_outputs(name, fragment, tmp_path):
    (tmp_path / "sub.mp4").mkdir()
    output = tmp_path / name
    done = run_cli("video", photo("chelsea"), "-o", output, "--model", MODEL)
    assert done.returncode == 2 and fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["sub.mp4"] and not list((tmp_path / "sub.mp4").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_output_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    output = folder / "x.png"
    assert_one_line_failure(run_cli("stylize", "--model", MODEL, "-o", output), output, "not writable")


def test_stylize_bad_inputs(tmp_path):
    output = tmp_path / "one.png"
    done = run_cli("stylize", tmp_path / "absent.jpg", "--model", MODEL, "-o", output)
    assert_one_line_failure(done, output, "no such file")
    text = tmp_path / "notes.png"
    text.write_text("hello\n" * 50)
    assert_one_line_failure(run_cli("stylize", text, "--model", MODEL, "-o", output), output, "cannot decode")
    pair = [photo("chelsea"), photo("coffee")]
    done = run_cli("stylize", *pair, "--model", MODEL, "-o", output)
    assert_one_line_failure(done, output, "need an output folder")
    done = run_cli("stylize", pair[0], "--model", MODEL, "-o", output, "--tile", "100", "--overlap", "80")
    assert_one_line_failure(done, output, "overlap")
    gif = tmp_path / "out.gif"
    done = run_cli("stylize", pair[0], "--model", MODEL, "-o", gif, "--size", "64")
    assert_one_line_failure(done, gif, "unsupported output type .gif")


def test_stylize_into_a_dotted_folder_named_with_a_slash(tmp_path):
    folder = tmp_path / "styled.v2"
    done = run_cli("stylize", photo("chelsea"), "--model", MODEL, "-o", f"{folder}/",
                   "--size", "64")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p.name for p in folder.iterdir()] == [f"chelsea-{MODEL}.png"]
