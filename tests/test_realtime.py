"""The shipped transformer nets through `impasto stylize`, `video` and `webcam`, tiling, and the temporal blend."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import REPO, run_cli

from impasto.runtime.images import read_image, resize_long_side
from impasto.runtime.manifest import read_manifest, shipped_models_dir, verify_checksums
from impasto.runtime.temporal import TemporalBlender, warping_error
from impasto.runtime.tiling import stylize_large, stylize_tiled, tile_count, tile_spans
from impasto.runtime.transformer_model import TransformerModel, transformer_names
from impasto.runtime.video_io import VideoSource

SHIPPED = transformer_names()
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 16, (160, 120), 12.0


def _write_clip(path, source_image, frames: int = CLIP_FRAMES) -> None:
    """A slow pan across a real photo, so optical flow has real texture to follow."""
    image = cv2.imread(str(source_image))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, CLIP_SIZE)
    for t in range(frames):
        crop = image[150 + 2 * t : 150 + 2 * t + 360, 250 + 3 * t : 250 + 3 * t + 480]
        writer.write(cv2.resize(crop, CLIP_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()


@pytest.fixture(scope="module")
def clip(tmp_path_factory, shared_images):
    path = tmp_path_factory.mktemp("clip") / "pan.avi"
    _write_clip(path, shared_images / "content" / "tubingen.jpg")
    return path


def _frames(path) -> list[np.ndarray]:
    video = VideoSource(str(path))
    frames = []
    while (frame := video.read()) is not None:
        frames.append(frame)
    video.close()
    return frames


def test_at_least_four_styles_are_shipped():
    assert len(SHIPPED) >= 4, SHIPPED
    entries = {m["name"]: m for m in read_manifest()["models"]}
    for name in SHIPPED:
        meta = entries[name]["metadata"]
        assert meta["kind"] == "transformer" and json.loads(meta["training"])["steps"] > 0
        assert (REPO / "models" / "images" / meta["style"]).is_file(), "the style painting ships with its model"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_verifies_and_stylizes_the_sample(name):
    entry = next(m for m in read_manifest()["models"] if m["name"] == name)
    assert verify_checksums(entry, shipped_models_dir()) == []
    photo = resize_long_side(read_image(shipped_models_dir() / "images" / "chelsea.png"), 256)
    for precision in ("fp32", "fp16"):
        model = TransformerModel(name, precision=precision)
        out = model.stylize(photo)
        assert out.shape == photo.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255
        assert np.abs(out - photo).mean() > 10, "the result should look different from the photo"
        if precision == "fp32":
            reference = out
    assert np.abs(out - reference).mean() < 1.0  # fp16 copy agrees with fp32


def test_stylize_command_batches_a_folder(tmp_path, shared_images):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        (folder / name).write_bytes((shared_images / "content" / name).read_bytes())
    done = run_cli("stylize", folder, "--model", SHIPPED[0], "--size", "96", "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{stem}-{SHIPPED[0]}.png" for stem in ("chelsea", "coffee", "astronaut"))
    # batched (same size after resizing) results equal one-at-a-time results
    model = TransformerModel(SHIPPED[0])
    single = model.stylize(resize_long_side(read_image(folder / "chelsea.png"), 96))
    batched = read_image(tmp_path / "out" / f"chelsea-{SHIPPED[0]}.png")
    assert np.abs(batched - single).max() <= 1.0  # 8-bit rounding


def test_stylize_default_is_the_sample_photo(tmp_path):
    done = run_cli("stylize", "--size", "64", "-o", tmp_path / "x.jpg", "--quiet")
    assert done.returncode == 0, done.stderr
    assert read_image(tmp_path / "x.jpg").shape == (43, 64, 3)  # chelsea is 451×300


def test_tiles_match_the_untiled_result_and_leave_no_seams(shared_images):
    model = TransformerModel(SHIPPED[0])
    image = resize_long_side(read_image(shared_images / "content" / "tubingen.jpg"), 1536)  # 1536×1152
    tile, overlap = 512, 64
    whole = model.stylize(image)
    tiled = stylize_large(model, image, tile, overlap, stats_side=1536)  # exact statistics
    assert tile_count(image.shape, tile, overlap) == 12 and tiled.shape == whole.shape
    rows, columns = tile_spans(image.shape[0], tile, overlap), tile_spans(image.shape[1], tile, overlap)
    # away from tile borders: each tile's interior, at least `overlap` px from its edges
    interior = np.zeros(image.shape[:2], bool)
    for top, bottom in rows:
        for left, right in columns:
            interior[top + overlap : bottom - overlap, left + overlap : right - overlap] = True
    difference = np.abs(tiled - whole).mean(axis=2)
    assert difference[interior].mean() < 0.5, difference[interior].mean()
    assert difference.mean() < 1.0, difference.mean()
    # seams: at every tile edge the step between neighbouring columns (rows) is no larger than untiled
    for axis, spans in ((1, columns), (0, rows)):
        edges = [start for start, _ in spans[1:]] + [end for _, end in spans[:-1]]
        step_tiled = np.abs(np.diff(tiled, axis=axis)).mean(axis=(1 - axis, 2))
        step_whole = np.abs(np.diff(whole, axis=axis)).mean(axis=(1 - axis, 2))
        for edge in edges:
            assert step_tiled[edge - 1] <= 1.1 * step_whole[edge - 1] + 0.5, (axis, edge)
    # by default the statistics come from a tile-sized copy (here 3× smaller): memory bounded by the tile, and
    # still far closer than each tile's own statistics (about 28 levels here)
    assert np.abs(stylize_large(model, image, tile, overlap) - whole).mean() < 8.0


def test_per_tile_normalisation_would_not_match(shared_images):
    """Why stylize_large rewrites the graph: tiles normalised by their own statistics come out differently."""
    model = TransformerModel(SHIPPED[0])
    image = resize_long_side(read_image(shared_images / "content" / "tubingen.jpg"), 1024)
    whole = model.stylize(image)
    naive = stylize_tiled(model.stylize, image, 512, 64)
    shared = stylize_large(model, image, 512, 64, stats_side=1024)
    assert np.abs(naive - whole).mean() > 10 * np.abs(shared - whole).mean()


def test_video_command_keeps_frames_rate_and_size(clip, tmp_path):
    output = tmp_path / "styled.mp4"
    done = run_cli("video", clip, output, "--model", SHIPPED[0], "--blend", "--quiet")
    assert done.returncode == 0, done.stderr
    capture = cv2.VideoCapture(str(output))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(CLIP_FPS)
    frames = _frames(output)
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    assert [p.name for p in tmp_path.iterdir()] == ["styled.mp4"]


def test_webcam_pipeline_from_a_file_headless(clip, tmp_path):
    record = tmp_path / "live.avi"
    done = run_cli(
        "webcam", "--source", clip, "--no-window", "--model", SHIPPED[0], "--model", SHIPPED[-1], "--size", "120",
        "--record", record,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{CLIP_FRAMES} frames" in done.stderr and "FPS" in done.stderr
    frames = _frames(record)
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)


def test_flow_blend_lowers_flicker(clip):
    model = TransformerModel(SHIPPED[0])
    contents = _frames(clip)
    plain = [model.stylize(frame) for frame in contents]
    blender = TemporalBlender(0.6)
    blended = [blender.apply(frame, out) for frame, out in zip(contents, plain, strict=True)]
    before, after = warping_error(contents, plain), warping_error(contents, blended)
    assert after < 0.8 * before, (before, after)


@pytest.mark.skipif(
    "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers(), reason="no CUDA"
)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_transformer_nets_stay_on_the_cuda_provider(precision):
    from impasto.runtime.sessions import SessionConfig, cpu_fallbacks, node_providers, open_session
    from impasto.runtime.transformer_model import resolve_transformer_path

    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 120, 160)).astype(np.float32)
    for name in SHIPPED:
        session = open_session(resolve_transformer_path(name, precision), SessionConfig(provider="cuda", profile=True))
        placement = node_providers(session, {"image": frame})
        assert not cpu_fallbacks(placement, "cuda"), f"{name} {precision}: nodes fell back to the CPU: {placement}"
