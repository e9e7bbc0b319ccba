"""`impasto video` through FFmpeg (PyAV): exact sizes, the input's own timestamps, orientation, copied audio, and
one-line refusals before any work. Every input is written here with PyAV (or Pillow, for a GIF)."""

from __future__ import annotations

import re
import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import assert_one_line_failure, photo, run_cli
from PIL import Image

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import TRANSFORMER, names
from impasto.runtime.media.video_io import AtomicVideoWriter, VideoFile
from impasto.runtime.nets.stylizer import FrameStream, Stylizer
from impasto.runtime.nets.video import stylize_video

MODEL = names(TRANSFORMER)[0]
ODD = (161, 121)  # width, height
SAMPLE_RATE = 44100


def _pan(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A slow pan across a shipped photo (coffee.png): real texture, every frame different."""
    image = np.asarray(Image.open(photo("coffee")).convert("RGB"))
    width, height = size
    return [image[10 + 2 * t : 10 + 2 * t + height, 20 + 3 * t : 20 + 3 * t + width].copy() for t in range(count)]


def write_clip(
    path: Path,
    images: list[np.ndarray],
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 12),
    audio: str | None = None,
    audio_seconds: float = 0.0,
    rotation: float | None = None,
    last_duration: int = 1,
) -> Path:
    """``images`` (H×W×3 uint8) as H.264 (4:4:4, so any size) at ``pts`` (default 0, 1, 2 …) in ``time_base``, each
    shown until the next and the last for ``last_duration``; with a 440 Hz tone in ``audio`` codec when given, and a
    display matrix rotating by ``rotation`` degrees."""
    height, width = images[0].shape[:2]
    pts = pts or list(range(len(images)))
    durations = dict(zip(pts, [*np.diff(pts).tolist(), last_duration], strict=True))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = width, height, "yuv444p"
        video.time_base = video.codec_context.time_base = time_base
        video.codec_context.max_b_frames = 0  # packets in order, so each duration is the frame's
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = _tone_stream(container, audio) if audio else None

        def mux(packets: list[av.Packet]) -> None:
            for packet in packets:
                packet.duration = durations[packet.pts]  # libx264 leaves it 0
                container.mux(packet)

        for image, stamp in zip(images, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            mux(video.encode(frame))
        mux(video.encode())
        if sound is not None:
            _write_tone(container, sound, audio_seconds)
    return path


def _tone_stream(container: av.container.OutputContainer, codec: str) -> av.audio.stream.AudioStream:
    """A mono audio stream (made before the first packet is muxed: the header fixes the layout)."""
    return container.add_stream(codec, rate=48000 if "opus" in codec else SAMPLE_RATE, layout="mono")


def _write_tone(container: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float) -> None:
    """``seconds`` of a 440 Hz tone, encoded into ``sound`` (float samples, planar or packed as the codec takes)."""
    rate = sound.codec_context.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(round(seconds * rate)) / rate)).astype(np.float32)
    step = sound.codec_context.frame_size or 1024
    layout = next(f.name for f in sound.codec_context.codec.audio_formats if f.name in ("fltp", "flt"))
    for start in range(0, len(tone), step):
        frame = av.AudioFrame.from_ndarray(tone[None, start : start + step], format=layout, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(sound.encode(frame))
    container.mux(sound.encode())


def frame_times(path: Path) -> list[float]:
    """Every video frame's presentation time in seconds, as FFmpeg decodes them."""
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def audio_samples(path: Path) -> int:
    """Decoded audio samples (FFmpeg trims encoder priming as players do)."""
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def video_stream_facts(path: Path) -> tuple[str, int, int, str, int]:
    """(codec, width, height, pixel format, decoded frame count) of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.width, stream.height, stream.codec_context.pix_fmt, frames


def tick(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.streams.video[0].time_base)


# --- what is kept -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "pixels"), [(ODD, "yuv444p"), ((160, 120), "yuv420p")])
def test_audio_size_and_frames_survive(size, pixels, tmp_path):
    """24 frames at 12 FPS with two seconds of AAC: the .mp4 is H.264 at the exact size (4:4:4 only where a side is
    odd, 4:2:0 otherwise for every player), every frame at its time, and the audio packets copied byte for byte."""
    source = write_clip(tmp_path / "in.mp4", _pan(size, 24), audio="aac", audio_seconds=2.0)
    output = tmp_path / "out.mp4"
    done = run_cli("video", source, "-o", output, "--model", MODEL, "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "1 audio stream copied" in done.stdout
    assert video_stream_facts(output) == ("h264", *size, pixels, 24)
    assert frame_times(output) == pytest.approx(frame_times(source), abs=tick(output))
    assert abs(audio_samples(output) - audio_samples(source)) <= 1024  # one AAC frame
    assert audio_packets(output) == audio_packets(source)  # copied, not re-encoded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary file left


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_uneven_frame_times_are_kept(suffix, tmp_path):
    """A variable-frame-rate input: each output frame shows at its input frame's time, and the file lasts as
    long (the last frame's duration included)."""
    pts = [0, 3, 4, 10, 11, 12, 20, 33, 34, 50]  # in 1/30 s; the last frame is shown for 7/30 s
    source = write_clip(tmp_path / "vfr.mkv", _pan(ODD, len(pts)), pts, Fraction(1, 30), last_duration=7)
    output = tmp_path / f"out{suffix}"
    done = run_cli("video", source, "-o", output, "--model", MODEL, "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    within = max(tick(output), tick(source))
    assert frame_times(output) == pytest.approx(frame_times(source), abs=within)
    with av.open(str(source)) as before, av.open(str(output)) as after:
        assert before.duration == pytest.approx(57 / 30 * av.time_base, abs=within * av.time_base)
        assert after.duration == pytest.approx(before.duration, abs=within * av.time_base)


def test_gif_frame_delays_are_kept(tmp_path):
    """A GIF's per-frame delays, read back by Pillow (not FFmpeg) from the stylised .gif, and kept in an .mp4."""
    delays = [100, 30, 250, 70, 120]  # ms
    images = [Image.fromarray(image) for image in _pan(ODD, len(delays))]
    source = tmp_path / "in.gif"
    images[0].save(source, save_all=True, append_images=images[1:], duration=delays, loop=0)
    gif, mp4 = tmp_path / "out.gif", tmp_path / "out.mp4"
    for output in (gif, mp4):
        done = run_cli("video", source, "-o", output, "--model", MODEL, "--size", "64", "--quiet")
        assert done.returncode == 0, done.stderr
    with Image.open(gif) as written:
        assert written.size == ODD and written.n_frames == len(delays)
        kept = []
        for index in range(written.n_frames):
            written.seek(index)
            kept.append(written.info["duration"])
    assert kept == delays
    assert frame_times(mp4) == pytest.approx(np.cumsum([0, *delays[:-1]]) / 1000, abs=tick(mp4))


def test_rotation_metadata_gives_upright_frames(tmp_path):
    """A phone-style clip stored 161×121 with a display matrix of 90°: the output is 121×161, upright, with no
    matrix left for a player to apply twice. At --strength 0 the output is the input, so the red corner can be
    found: stored top-left, shown bottom-left (90° counter-clockwise, as FFmpeg and OpenCV show it)."""
    image = np.full((ODD[1], ODD[0], 3), 128, np.uint8)
    image[:40, :54] = (230, 20, 20)
    source = write_clip(tmp_path / "phone.mp4", [image] * 6, rotation=90)
    output = tmp_path / "out.mp4"
    done = run_cli("video", source, "-o", output, "--model", MODEL, "--strength", "0", "--quiet")
    assert done.returncode == 0, done.stderr
    with av.open(str(output)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == 0
        shown = frame.to_ndarray(format="rgb24").astype(int)
    assert shown.shape == (ODD[0], ODD[1], 3)
    red = (shown[..., 0] > 180) & (shown[..., 1] < 80)
    rows, columns = np.nonzero(red)
    assert red.sum() > 0.8 * 40 * 54 and rows.min() > ODD[0] - 60 and columns.max() < 50, (rows.min(), columns.max())


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
@pytest.mark.parametrize("mirrored", [False, True])
def test_every_display_orientation_reads_upright(degrees, mirrored, tmp_path):
    """All eight orientations PyAV writes (a rotation, then a mirror): VideoFile shows what the writer meant."""
    blocks = np.zeros((6, 8, 3), np.uint8)
    blocks[..., 0] = np.arange(48).reshape(6, 8) * 5
    stored = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
    with av.open(str(tmp_path / "o.mkv"), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.set_display_rotation(degrees, hflip=mirrored)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        container.mux(stream.encode())
    video = VideoFile(tmp_path / "o.mkv")
    shown = video.read()[4::8, 4::8, 0]
    video.close()
    expected = np.rot90(blocks[..., 0], degrees // 90)
    expected = expected[:, ::-1] if mirrored else expected
    assert shown.shape == expected.shape and np.abs(shown - expected).max() < 4


def test_avi_keeps_odd_size_frames_and_rate(tmp_path):
    source = write_clip(tmp_path / "in.mp4", _pan(ODD, 12))
    output = tmp_path / "out.avi"
    done = run_cli("video", source, "-o", output, "--model", MODEL, "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    assert video_stream_facts(output)[:3] == ("mjpeg", *ODD) and video_stream_facts(output)[4] == 12
    assert frame_times(output) == pytest.approx(frame_times(source), abs=1e-6)


def test_quiet_still_reports_a_measured_speed(tmp_path):
    source = write_clip(tmp_path / "in.mp4", _pan(ODD, 12))
    began = time.perf_counter()
    done = run_cli("video", source, "-o", tmp_path / "out.mp4", "--model", MODEL, "--size", "64", "--quiet")
    wall = time.perf_counter() - began
    assert done.returncode == 0 and done.stderr == "", done.stderr
    speed = re.search(r"stylised at ([\d.]+) FPS", done.stdout)
    assert speed, done.stdout
    # a clock over the frames' work: faster than the whole process (which starts Python and loads the net) managed,
    # and not the clip's own rate (12) nor the 0.0 a disabled progress bar gave
    assert float(speed.group(1)) >= 12 / wall, (speed.group(1), wall)
    assert abs(float(speed.group(1)) - 12) > 0.05


def test_audio_into_a_gif_is_dropped_with_a_warning(tmp_path):
    source = write_clip(tmp_path / "in.mp4", _pan(ODD, 6), audio="aac", audio_seconds=0.5)
    output = tmp_path / "out.gif"
    done = run_cli("video", source, "-o", output, "--model", MODEL, "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: warning:") and "no sound" in lines[0], done.stderr
    with av.open(str(output)) as container:
        assert not container.streams.audio and container.streams.video[0].frames == 6


# --- refusals: one line, before any work --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    tone = folder / "tone.m4a"  # a song with cover art: FFmpeg shows the picture as a video stream
    with av.open(str(tone), "w", format="mp4") as container:
        sound = _tone_stream(container, "aac")
        cover = container.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 99, np.uint8), format="rgb24")
        container.mux(cover.encode(picture.reformat(format="yuvj420p")))
        container.mux(cover.encode())
        _write_tone(container, sound, 0.5)
    import impasto.runtime.media  # noqa: F401  (registers the HEIF writer with Pillow)

    heic, avif = folder / "IMG_0001.HEIC", folder / "photo.avif"
    orientation = Image.Exif()
    orientation[0x0112] = 6  # with EXIF, FFmpeg's frames carry side data newer than PyAV's enum knows
    Image.open(photo("coffee")).convert("RGB").save(heic, "HEIF", exif=orientation.tobytes())
    Image.open(photo("coffee")).convert("RGB").save(avif, "AVIF")
    return {
        "heic": heic,
        "avif": avif,
        "clip": write_clip(folder / "clip.mp4", _pan(ODD, 4)),
        "opus": write_clip(folder / "opus.mkv", _pan(ODD, 4), audio="libopus", audio_seconds=0.3),
        "text": text,
        "tone": tone,
        "photo": photo("coffee"),
        "missing": folder / "absent.mp4",
    }


@pytest.mark.parametrize(
    ("given", "output", "fragment", "names"),
    [
        ("clip", "out.webm", "unsupported video type .webm", "output"),
        ("clip", "no-folder/out.mp4", "does not exist", "output"),
        ("missing", "out.mp4", "no such video file", "input"),
        ("text", "out.mp4", "cannot read video from it", "input"),
        ("tone", "out.mp4", "has no video stream", "input"),
        ("photo", "out.mp4", "is a still image", "input"),
        ("heic", "out.mp4", "is a still image", "input"),
        ("avif", "out.mp4", "is a still image", "input"),
        ("opus", "out.mov", "cannot hold the opus audio", "output"),
    ],
)
def test_refusals_come_before_any_work(given, output, fragment, names, inputs, tmp_path):
    """Each mistake is one line naming the file at fault, and comes before the model is even looked up: the model
    named here does not exist, so a later check would report that instead."""
    target = tmp_path / output
    done = run_cli("video", inputs[given], "-o", target, "--model", "no-such-style")
    assert_one_line_failure(done, target, fragment)
    assert str(target if names == "output" else inputs[given]) in done.stderr
    assert not list(tmp_path.iterdir())


def test_unfit_audio_names_the_containers_that_fit(inputs, tmp_path):
    done = run_cli("video", inputs["opus"], "-o", tmp_path / "out.mov", "--model", MODEL)
    assert done.returncode == 2 and "write .mkv or .mp4 instead" in done.stderr, done.stderr


def test_output_that_is_the_input_is_refused(inputs, tmp_path):
    copy = tmp_path / "clip.mp4"
    shutil.copy(inputs["clip"], copy)
    before = copy.read_bytes()
    done = run_cli("video", copy, "-o", copy, "--model", "no-such-style")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "is an input" in lines[0] and str(copy) in lines[0], lines
    assert copy.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_output_folder_removed_during_the_run_is_one_error(tmp_path):
    """The folder vanishes before the end: one ImpastoError naming the output, not an FFmpeg or OS traceback."""
    folder = tmp_path / "gone"
    folder.mkdir()
    writer = AtomicVideoWriter(folder / "out.mp4", 12, *ODD)
    for image in _pan(ODD, 3):
        writer.write(image.astype(np.float32))
    shutil.rmtree(folder)
    with pytest.raises(ImpastoError, match=r"out\.mp4: cannot write video") as caught:
        writer.commit()
    assert "\n" not in str(caught.value)
    assert not folder.exists()


class _InterruptedAfter(FrameStream):
    """The real stream, with a Ctrl-C arriving while the third frame is stylised."""

    def __init__(self, stream: FrameStream) -> None:
        super().__init__(stream.stylizer, stream.options)
        self.count = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.count += 1
        if self.count == 3:
            raise KeyboardInterrupt
        return super().__call__(frame)


def test_ctrl_c_leaves_nothing_behind(tmp_path):
    source = write_clip(tmp_path / "in.mp4", _pan(ODD, 6), audio="aac", audio_seconds=0.5)
    stylizer = Stylizer(MODEL)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(stylizer, source, tmp_path / "out.mp4", _InterruptedAfter(stylizer.stream(64)), quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
