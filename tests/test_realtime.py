"""The shipped transformer nets through `impasto stylize`, `video` and `webcam`, tiling, and the temporal blend.

Every image here is shipped (models/images) or generated; the nets' outputs themselves are pinned by
tests/test_golden.py.
"""

from __future__ import annotations

import hashlib
import itertools

import cv2
import numpy as np
import pytest
from conftest import REPO, photo, run_cli, shipped_styles, shipped_transformer_names, shipped_transformers

from impasto.runtime.core.registry import shipped_models_dir
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.media.video_io import VideoFile
from impasto.runtime.nets.stylizer import Stylizer
from impasto.runtime.nets.tiling import stylize_large, stylize_tiled, tile_count, tile_spans
from impasto.runtime.nets.transformer import TransformerModel

SHIPPED = shipped_transformer_names()
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 16, (160, 120), 12.0


def _write_clip(path, source_image, frames: int = CLIP_FRAMES) -> None:
    """A slow pan across a real photo (coffee.png, 600×400), so optical flow has real texture to follow."""
    image = cv2.imread(str(source_image))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, CLIP_SIZE)
    for t in range(frames):
        crop = image[20 + 2 * t : 20 + 2 * t + 240, 40 + 3 * t : 40 + 3 * t + 320]
        writer.write(cv2.resize(crop, CLIP_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "pan.avi"
    _write_clip(path, photo("coffee"))
    return path


def _frames(path) -> list[np.ndarray]:
    video = VideoFile(path)
    frames = []
    while (frame := video.read()) is not None:
        frames.append(frame)
    video.close()
    return frames


def test_at_least_six_styles_are_shipped():
    assert len(shipped_styles()) >= 6, shipped_styles()
    import json

    for entry in shipped_transformers():
        meta = entry["metadata"]
        assert meta["kind"] == "transformer" and json.loads(meta["training"])["steps"] > 0
        for painting in meta["style"].split(", "):
            assert (REPO / "models" / "images" / painting).is_file(), f"{painting}: the painting ships with its model"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_matches_its_checksum_and_loads(name):
    """What each file computes is pinned by test_golden.py; here: the bytes are the manifest's and every variant
    opens as a transformer net of the precision it claims."""
    entry = next(m for m in shipped_transformers() if m["name"] == name)
    assert set(entry["files"]) >= {"fp32", "fp16"}
    for precision, file in entry["files"].items():
        path = REPO / "models" / file
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"][file], file
        model = TransformerModel(name, precision=precision)
        installed = shipped_models_dir() / file  # the installed package's copy (site-packages, or this tree)
        assert model.path.resolve() == installed.resolve() and model.precision == precision and model.name == name
        assert installed.read_bytes() == path.read_bytes()


def test_stylize_command_batches_a_folder(tmp_path, photos):
    folder = tmp_path / "in"
    folder.mkdir()
    for stem in ("chelsea", "coffee", "astronaut"):
        (folder / photos[stem].name).write_bytes(photos[stem].read_bytes())
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


def test_tiles_match_the_untiled_result_and_leave_no_seams():
    model = TransformerModel(SHIPPED[0])
    image = resize_long_side(read_image(photo("rocket")), 1536)  # 1536×1025, enlarged from 640×427
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
    assert difference[interior].mean() < 0.5, difference[interior].mean()  # 0.12 here
    assert difference.mean() < 1.0, difference.mean()  # 0.26 here
    # seams: at every tile edge the step between neighbouring columns (rows) is no larger than untiled
    for axis, spans in ((1, columns), (0, rows)):
        edges = [start for start, _ in spans[1:]] + [end for _, end in spans[:-1]]
        step_tiled = np.abs(np.diff(tiled, axis=axis)).mean(axis=(1 - axis, 2))
        step_whole = np.abs(np.diff(whole, axis=axis)).mean(axis=(1 - axis, 2))
        for edge in edges:
            assert step_tiled[edge - 1] <= 1.1 * step_whole[edge - 1] + 0.5, (axis, edge)
    # by default the statistics come from a copy of at most twice a tile's pixels (here a third of the image's):
    # memory bounded by two tiles, and far closer than each tile's own statistics
    naive = np.abs(stylize_tiled(model.stylize, image, tile, overlap) - whole).mean()
    default = np.abs(stylize_large(model, image, tile, overlap) - whole).mean()
    assert default < 0.35 * naive, (default, naive)  # 5.1 against 19.3 here


def test_per_tile_normalisation_would_not_match():
    """Why stylize_large rewrites the graph: tiles normalised by their own statistics come out differently."""
    model = TransformerModel(SHIPPED[0])
    image = resize_long_side(read_image(photo("rocket")), 1024)
    whole = model.stylize(image)
    naive = stylize_tiled(model.stylize, image, 512, 64)
    shared = stylize_large(model, image, 512, 64, stats_side=1024)
    assert np.abs(naive - whole).mean() > 10 * np.abs(shared - whole).mean()


def test_video_command_keeps_frames_rate_and_size(clip, tmp_path):
    output = tmp_path / "styled.mp4"
    done = run_cli("video", clip, "-o", output, "--model", SHIPPED[0], "--blend", "--quiet")
    assert done.returncode == 0, done.stderr
    capture = cv2.VideoCapture(str(output))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(CLIP_FPS)
    frames = _frames(output)
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    assert [p.name for p in tmp_path.iterdir()] == ["styled.mp4"]


def test_webcam_pipeline_from_a_file_headless(clip, tmp_path):
    record = tmp_path / "live.avi"
    done = run_cli(
        "webcam", "--source", clip, "--no-window", "--model", SHIPPED[0], "--model", shipped_styles()[-1],
        "--size", "120", "--record", record,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{CLIP_FRAMES} frames" in done.stderr and "FPS" in done.stderr
    frames = _frames(record)
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)


# --- webcam keys -------------------------------------------------------------------------------------------------


def test_webcam_keys_change_model_size_blend_and_stop():
    from impasto.runtime.nets.webcam import SIZES, WebcamSettings, _Controls

    controls = _Controls(WebcamSettings(models=["a", "b", "c"], size=360, blend=0.0, window=False))
    assert (controls.model_index, controls.size, controls.blend) == (0, 360, 0.0)
    for expected in (1, 2, 0, 1):  # m cycles through the models and wraps
        controls.key(ord("m"))
        assert controls.model_index == expected
    for expected in (480, 720, 240, 360):  # s steps through the sizes and wraps
        controls.key(ord("s"))
        assert controls.size == expected
    controls.key(ord("b"))
    assert controls.blend == 0.6
    controls.key(ord("b"))
    assert controls.blend == 0.0
    for code in (255, ord("x"), ord("M"), 0):  # no key (waitKey's 255 after & 0xFF) and other keys change nothing
        controls.key(code)
    assert (controls.model_index, controls.size, controls.blend) == (1, 360, 0.0) and not controls.stop.is_set()
    controls.key(ord("q"))
    assert controls.stop.is_set()

    escape = _Controls(WebcamSettings(models=["a"], size=None, blend=0.3, window=False))
    escape.key(ord("m"))
    assert escape.model_index == 0  # one model: m stays on it
    escape.key(ord("s"))
    assert escape.size == SIZES[0]  # from the frame's own size to the smallest
    escape.key(ord("b"))
    assert escape.blend == 0.0  # any blend on → off
    escape.key(27)
    assert escape.stop.is_set()


def _key_presses(presses: dict[int, str]):
    """A ``WebcamSettings.keys`` source pressing ``presses[n]`` after the n-th shown frame (1-based), and the list of
    every shown frame."""
    shown: list[np.ndarray] = []

    def keys(count: int, frame: np.ndarray) -> int | None:
        shown.append(frame.copy())
        key = presses.get(count)
        return None if key is None else 27 if key == "Esc" else ord(key)

    return keys, shown


def test_webcam_switches_models_mid_run(clip, tmp_path):
    """Two styles, m pressed after frame 5 and again after frame 11: the recorded frames are A's, then B's, then
    A's again — each frame exactly one model's stylisation — and every frame is recorded."""
    from impasto.runtime.nets.webcam import WebcamSettings, run_webcam

    first, second = shipped_styles()[:2]  # two styles of one net: the session stays, the style weights change
    keys, written = _key_presses({5: "m", 11: "m"})
    record = tmp_path / "live.avi"
    settings = WebcamSettings(models=[first, second], size=None, window=False, record=str(record), keys=keys)
    stats = run_webcam(str(clip), settings)
    assert stats.frames == CLIP_FRAMES == len(written) and record.is_file()
    assert len(_frames(record)) == CLIP_FRAMES

    sources = _frames(clip)
    streams = {name: Stylizer(name).stream(None) for name in (first, second)}
    labels = []
    for frame, out in zip(sources, written, strict=True):
        distance = {name: float(np.abs(out - stream(frame)).mean()) for name, stream in streams.items()}
        closest = min(distance, key=distance.get)
        assert distance[closest] < 0.01 and max(distance.values()) > 5, distance  # one model's output, exactly
        labels.append(0 if closest == first else 1)
    # a key pressed after frame n is shown reaches the stylising thread while the frames it already holds are in
    # flight (two in the result queue, one in its hands, two in the frame queue): frames ≤ n keep the old model and
    # frames > n + 5 have the new one for sure
    switches = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    assert len(switches) == 2, labels
    assert 5 <= switches[0] <= 5 + 5 and 11 <= switches[1] <= 11 + 5, labels
    assert labels[0] == 0 and labels[switches[0]] == 1 and labels[-1] == 0


@pytest.mark.parametrize("key", ["q", "Esc"])
def test_webcam_quit_key_ends_the_run_and_keeps_the_record(key, clip, tmp_path):
    from impasto.runtime.nets.webcam import WebcamSettings, run_webcam

    keys, written = _key_presses({6: key})
    record = tmp_path / "live.avi"
    settings = WebcamSettings(models=[SHIPPED[0]], size=None, window=False, record=str(record), keys=keys)
    stats = run_webcam(str(clip), settings)
    assert stats.frames == 6 and len(written) == stats.frames, stats
    assert len(_frames(record)) == stats.frames


# --- temporal blend, measured against known motion --------------------------------------------------------------

SHIFT = (3, 2)  # (dx, dy) pixels per frame; odd dx changes the nets' stride-2 phase, as real motion does
MOTION_FRAMES, MOTION_SIZE, NOISE, MARGIN = 12, (144, 192), 3.0, 16


@pytest.fixture(scope="module")
def known_motion():
    """A camera panning over coffee.png by exactly SHIFT px per frame, with fresh sensor noise (σ = 3 levels) per
    frame: frame t at (y, x) shows what frame t − 1 showed at (y + dy, x + dx)."""
    source = read_image(photo("coffee"))
    rng = np.random.default_rng(0)
    (dx, dy), (height, width) = SHIFT, MOTION_SIZE
    frames = []
    for t in range(MOTION_FRAMES):
        window = source[40 + dy * t : 40 + dy * t + height, 60 + dx * t : 60 + dx * t + width]
        frames.append(np.clip(window + rng.normal(0, NOISE, window.shape), 0, 255).astype(np.float32))
    return frames


def _true_flicker(outputs: list[np.ndarray]) -> float:
    """Mean |S_t − S_{t−1} moved by the true motion| on the interior (MARGIN px from every border)."""
    (dx, dy), (height, width) = SHIFT, MOTION_SIZE
    errors = []
    for previous, current in itertools.pairwise(outputs):
        now = current[MARGIN : height - MARGIN - dy, MARGIN : width - MARGIN - dx]
        before = previous[MARGIN + dy : height - MARGIN, MARGIN + dx : width - MARGIN]
        errors.append(float(np.abs(now - before).mean()))
    return float(np.mean(errors))


def _stream(name: str, frames: list[np.ndarray], blend: float) -> list[np.ndarray]:
    stream = Stylizer(name).stream(None, False, blend)
    return [stream(frame) for frame in frames]


def test_true_flicker_measures_motion_not_content(known_motion):
    """The measure itself: the clip's own frames differ only by their noise once moved by the true motion, and a
    wrong displacement makes them differ a lot."""
    assert _true_flicker(known_motion) < 1.5 * NOISE * 2 / np.sqrt(np.pi)  # |N(0,σ) − N(0,σ)| averages 1.13 σ
    still = [frame[MARGIN:-MARGIN, MARGIN:-MARGIN] for frame in known_motion]
    assert np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(still)]) > 3 * _true_flicker(known_motion)


@pytest.mark.parametrize("name", SHIPPED)
def test_flow_blend_lowers_flicker_along_the_true_motion(name, known_motion, monkeypatch):
    from impasto.runtime.nets import temporal

    plain_frames = _stream(name, known_motion, 0.0)
    plain = _true_flicker(plain_frames)
    blended_frames = _stream(name, known_motion, 0.6)
    blended = _true_flicker(blended_frames)
    assert blended < 0.5 * plain, (plain, blended)  # about a third here
    # and it is still the stylisation, not a frozen or washed-out frame
    drift = float(np.mean([np.abs(b - p).mean() for b, p in zip(blended_frames, plain_frames, strict=True)]))
    assert drift < 0.7 * plain, (drift, plain)

    # a blender that ignores the flow, or follows it the wrong way, must not pass the same bound
    real_flow = temporal.FlowWarper.flow
    broken = {
        "no flow": lambda self, current, previous: np.zeros((*current.shape[:2], 2), np.float32),
        "reversed flow": lambda self, current, previous: -real_flow(self, current, previous),
    }
    for what, flow in broken.items():
        monkeypatch.setattr(temporal.FlowWarper, "flow", flow)
        assert _true_flicker(_stream(name, known_motion, 0.6)) > 0.55 * plain, what
    monkeypatch.setattr(temporal.FlowWarper, "flow", real_flow)


@pytest.mark.skipif(
    "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers(), reason="no CUDA"
)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_transformer_nets_stay_on_the_cuda_provider(precision):
    from impasto.runtime.core.placement import cpu_fallbacks, node_providers
    from impasto.runtime.core.session_config import SessionConfig
    from impasto.runtime.core.sessions import open_session

    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 120, 160)).astype(np.float32)
    for entry in shipped_transformers():
        if precision not in entry["files"]:
            continue
        path = REPO / "models" / entry["files"][precision]
        session = open_session(path, SessionConfig(provider="cuda", profile=True))
        placement = node_providers(session, {"image": frame})
        assert not cpu_fallbacks(placement, "cuda"), f"{entry['name']} {precision}: nodes fell back to the CPU"
