"""One command-line grammar: -o everywhere, sizes as N or HxW, --json documents, stdin/stdout, defaults from the
settings dataclasses, --precision honoured or refused, outputs never replacing inputs, and README's commands."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, assert_one_line_failure, run_cli

from impasto.runtime.cli.main import build_parser
from impasto.runtime.core.machine import microarchitecture
from impasto.runtime.core.registry import MODELS_PATH_VARIABLE, TRANSFORMER, entries, names, resolve
from impasto.runtime.media.decode import decode_image

NET = names(TRANSFORMER)[0]
PHOTO = REPO / "models" / "images" / "chelsea.png"


def _json(done) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_version_and_info_json():
    import impasto
    import impasto.runtime

    assert impasto.__version__ == impasto.runtime.__version__ != "0+unknown"
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"impasto {impasto.runtime.__version__}"
    info = _json(run_cli("info", "--json"))
    assert info["versions"]["impasto"] == impasto.runtime.__version__
    assert "cpu" in info["providers"]["available"]
    assert info["providers"]["in_effect"]["cpu"] == ["CPUExecutionProvider"]
    cpu = info["cpu"]
    assert cpu["peak_fp32_gflops"] == pytest.approx(
        cpu["cores"] * cpu["mhz"] / 1000 * cpu["flops_per_cycle_fp32"], 0.01
    )
    assert {m["name"] for m in info["models"]} == {e.name for e in entries()}


def test_models_json_lists_every_entry_with_its_precisions():
    listed = _json(run_cli("models", "--json", "--verify"))["models"]
    assert [m["name"] for m in listed] == [e.name for e in entries()]
    for model in listed:
        assert model["checksum_mismatches"] == []
        if model["kind"] == TRANSFORMER:
            assert model["precisions"][0] == "fp32"


def test_stylize_json_and_exact_sizes(tmp_path):
    out = tmp_path / "cat.png"
    document = _json(run_cli("stylize", PHOTO, "--model", NET, "--size", "40x72", "-o", out, "--json"))
    assert document["model"] == NET and document["results"] == [{"input": str(PHOTO), "output": str(out)}]
    assert cv2.imread(str(out)).shape == (40, 72, 3)  # HxW: exactly that size
    run_cli("stylize", PHOTO, "--model", NET, "--size", "72", "-o", out, "--quiet")
    height, width = cv2.imread(str(out)).shape[:2]
    assert max(height, width) == 72  # N: the long side


def test_stylize_from_stdin_to_stdout(tmp_path):
    command = [sys.executable, "-m", "impasto.runtime.cli", "stylize", "-", "-o", "-", "--model", NET, "--size", "64"]
    done = subprocess.run(command, input=PHOTO.read_bytes(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    image = decode_image(done.stdout, "stdout")
    assert max(image.shape[:2]) == 64
    jpeg = subprocess.run([*command, "--format", "jpeg"], input=PHOTO.read_bytes(), capture_output=True, timeout=120)
    assert jpeg.stdout[:3] == b"\xff\xd8\xff"
    assert not (tmp_path / "-").exists() and not (REPO / "-").exists()


def test_an_output_never_replaces_an_input(tmp_path):
    photo = tmp_path / "a.png"
    shutil.copy(PHOTO, photo)
    before = photo.read_bytes()
    done = run_cli("stylize", photo, "--model", NET, "-o", photo)
    assert done.returncode == 2 and "is an input" in done.stderr
    done = run_cli("optimize", "--content", photo, "-o", photo, "--size", "32", "--iters", "1")
    assert done.returncode == 2 and "is an input" in done.stderr
    assert photo.read_bytes() == before


def test_precision_is_honoured_for_a_file_or_refused(tmp_path):
    shipped = next(e for e in entries() if e.kind == TRANSFORMER and "int8" in e.files)
    # a shipped file given as a path: its variants come from the manifest beside it
    assert resolve(shipped.file("fp32"), TRANSFORMER, "int8").path == shipped.file("int8")
    # a lone copy with no manifest beside it: refused, not ignored
    lone = tmp_path / "net.onnx"
    shutil.copy(shipped.file("fp32"), lone)
    out = tmp_path / "out.png"
    done = run_cli("stylize", PHOTO, "--model", lone, "--precision", "int8", "-o", out)
    assert_one_line_failure(done, out, "--precision int8 cannot be honoured")
    assert run_cli("stylize", PHOTO, "--model", lone, "--precision", "fp32", "-o", out, "--size", "48").returncode == 0


def test_a_trained_net_is_found_by_name_through_its_manifest(tmp_path):
    shipped = next(e for e in entries() if e.kind == TRANSFORMER)
    folder = tmp_path / "trained"
    folder.mkdir()
    record = dict(shipped.record, name="my-net", files={"fp32": "my-net.onnx"}, sha256={})
    shutil.copy(shipped.file("fp32"), folder / "my-net.onnx")
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "models": [record]}))
    env = {**os.environ, MODELS_PATH_VARIABLE: str(folder)}
    command = [sys.executable, "-m", "impasto.runtime.cli"]
    out = tmp_path / "out.png"
    done = subprocess.run([*command, "stylize", PHOTO, "--model", "my-net", "-o", out, "--size", "48"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([*command, "models", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert "my-net" in [m["name"] for m in json.loads(listed.stdout)["models"]]
    done = subprocess.run([*command, "stylize", PHOTO, "--model", "my-net", "--precision", "fp16", "-o", out],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "has no fp16 variant" in done.stderr


def test_bench_writes_files_only_when_asked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "impasto.runtime.cli", "bench", NET, "--sizes", "64", "--runs", "1", "--warmup", "0",
         "--precision", "fp32", "--no-pytorch", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["results"]
    assert (row["height"], row["width"]) == (48, 64) and row["runs"] == 1  # N: a 4:3 frame of long side N
    assert list(tmp_path.iterdir()) == []


def _parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_cli_defaults_are_the_settings_dataclasses_defaults():
    from impasto.export.training.settings import TrainSettings
    from impasto.runtime.bench.spec import BenchSpec
    from impasto.runtime.gatys.settings import OptimizeSettings
    from impasto.runtime.nets.stylizer import StylizeOptions
    from impasto.runtime.serve.settings import ServeSettings

    def defaults(cls) -> dict:
        values = {}
        for field in dataclasses.fields(cls):
            if field.default is not dataclasses.MISSING:
                values[field.name] = field.default
            elif field.default_factory is not dataclasses.MISSING:
                values[field.name] = field.default_factory()
        return values

    stylize, options = _parse("stylize"), defaults(StylizeOptions)
    assert (stylize.size, stylize.tile, stylize.overlap, stylize.stats_side) == (
        options["size"], options["tile"], options["overlap"], options["stats_side"])  # fmt: skip
    optimize, settings = _parse("optimize"), defaults(OptimizeSettings)
    for name in ("size", "preset", "iters", "scales", "optimizer", "init", "seed", "style_scale", "learning_rate"):
        assert getattr(optimize, name) == settings[name], name
    assert (optimize.preset, optimize.iters, optimize.scales, optimize.init) == (None, None, None, None)
    train, settings = _parse("train", "--style", "s.jpg", "--content-dir", "d"), defaults(TrainSettings)
    for name in ("architecture", "size", "style_size", "batch_size", "iterations", "learning_rate", "content_weight",
                 "style_weight", "tv_weight", "seed", "checkpoint_every", "preview_every"):  # fmt: skip
        assert getattr(train, name) == settings[name], name
    serve, settings = _parse("serve"), defaults(ServeSettings)
    assert (serve.slots, serve.queue, serve.timeout, serve.max_pixels, serve.max_jobs) == (
        settings["slots"],
        settings["queue"],
        settings["timeout_s"],
        settings["max_pixels"],
        settings["max_jobs"],
    )
    assert serve.max_upload_mb * (1 << 20) == settings["max_upload_bytes"]
    bench, spec = _parse("bench"), defaults(BenchSpec)
    assert (bench.runs, bench.warmup, bench.modes) == (spec["runs"], spec["warmup"], spec["modes"])


def test_every_writing_command_takes_dash_o():
    for argv in (["stylize"], ["video", "in.mp4", "-o", "x.mp4"], ["webcam"], ["optimize"], ["bench"],
                 ["batch", "in", "-o", "out"], ["train", "--style", "s", "--content-dir", "c"],
                 ["export", "loss-graph"], ["export", "triton", "-o", "repo"]):  # fmt: skip
        assert hasattr(_parse(*argv), "output"), argv
    assert _parse("export", "loss-graph", "-o", "dir").output == "dir"
    assert _parse("train", "--style", "s", "--content-dir", "c", "-o", "dir").output == "dir"


def test_train_needs_a_content_folder():
    done = run_cli("train", "--style", PHOTO)
    assert done.returncode == 2 and "--content-dir" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("vendor", "family", "flags", "per_cycle"),
    [
        ("AuthenticAMD", 0x19, {"avx2", "fma"}, 32),  # Zen 3
        ("AuthenticAMD", 0x19, {"avx2", "fma", "avx512f"}, 32),  # Zen 4: AVX-512 as two 256-bit halves
        ("AuthenticAMD", 0x1A, {"avx2", "fma", "avx512f"}, 64),  # Zen 5: full 512-bit pipes
        ("AuthenticAMD", 0x17, {"avx2", "fma"}, 32),  # Zen 2
        ("GenuineIntel", 6, {"avx2", "fma", "avx512f"}, 64),
        ("GenuineIntel", 6, {"avx2", "fma"}, 32),
        ("GenuineIntel", 6, {"sse2"}, 8),
    ],
)
def test_peak_comes_from_the_microarchitecture_not_one_flag(vendor, family, flags, per_cycle):
    assert microarchitecture(vendor, family, flags)[1] == per_cycle


def _readme_commands() -> list[str]:
    """Every `impasto …` line inside README.md's bash blocks (comments dropped)."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("impasto "):
                commands.append(line)
    return commands


def test_every_readme_command_parses():
    commands = _readme_commands()
    assert len(commands) > 15
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command.split(" < ", 1)[0].split(" > ", 1)[0])[1:])  # no redirections
        except SystemExit as error:  # argparse exits on a bad command line (and on --help/--version: code 0)
            assert error.code == 0, f"README command does not parse: {command}"


def test_readme_commands_run_at_tiny_sizes(tmp_path):
    """The README's stylize/optimize/models/info/bench commands, run as written with placeholder inputs made here
    and the sizes made tiny."""
    photo = np.full((60, 80, 3), 128, np.uint8)
    photo[10:50, 20:60] = (30, 160, 220)
    for name in ("photo.jpg", "in.jpg", "huge.jpg", "more.png", "painting.jpg", "a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), photo)
    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "a.png"), photo)
    ran = 0
    for command in _readme_commands():
        words = shlex.split(command)
        if words[1] not in ("stylize", "optimize", "models", "info", "sheet"):
            continue
        if words[1] == "optimize" and "--preset" in words:  # a preset's caps are hundreds of iterations; its
            del words[words.index("--preset") : words.index("--preset") + 2]  # schedule runs in test_optimize
        if words[1] == "optimize" and "--iters" not in words:
            words += ["--iters", "2"]
        stdin = None
        if "<" in words:  # shell redirections: stdin from the named file, stdout captured
            at = words.index("<")
            stdin = (tmp_path / words[at + 1]).read_bytes()
            del words[at : at + 2]
        if ">" in words:
            del words[words.index(">") :]
        for flag, value in (("--size", "48"), ("--iters", "2")):
            if flag in words:
                words[words.index(flag) + 1] = value
        if "--size" not in words and "-" not in words and words[1] in ("stylize", "optimize", "sheet"):
            words += ["--size", "48"]
        done = subprocess.run([sys.executable, "-m", "impasto.runtime.cli", *words[1:]], input=stdin,
                              capture_output=True, cwd=tmp_path, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"{command}: {done.stderr.decode()[-500:]}"
        ran += 1
    assert ran >= 5


def test_refusals_leave_nothing_and_share_one_prefix(tmp_path):
    out = tmp_path / "styled"
    done = run_cli("stylize", PHOTO, PHOTO, "--model", NET, "-o", f"{out}/")
    assert done.returncode == 2 and "given twice" in done.stderr and not out.exists()
    other = tmp_path / "other"
    other.mkdir()
    twin = other / PHOTO.name
    twin.write_bytes(PHOTO.read_bytes())
    done = run_cli("stylize", PHOTO, twin, "--model", NET, "-o", f"{out}/")
    assert done.returncode == 2 and "share a file name" in done.stderr and str(twin) in done.stderr
    assert not out.exists()
    for argv in (("stylize", "--size", "10x"), ("stylize", "--size", "0"), ("bench", "--warmup", "-1"),
                 ("video", "in.mp4"), ("optimize", "--iters", "x")):  # fmt: skip
        done = run_cli(*argv)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("impasto: error: "), (argv, lines)


def test_webcam_never_records_over_its_source(tmp_path):
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for value in range(5):
        writer.write(np.full((48, 64, 3), 40 * value, np.uint8))
    writer.release()
    before = clip.read_bytes()
    link = tmp_path / "link.avi"
    link.symlink_to(clip)
    for target in (clip, link):
        done = run_cli("webcam", "--source", clip, "--no-window", "--model", NET, "-o", target)
        assert done.returncode == 2 and "is an input" in done.stderr, done.stderr
    assert clip.read_bytes() == before and link.is_symlink()


def test_bad_manifests_tiles_and_cache_folders_are_one_line(tmp_path):
    env = dict(os.environ)
    command = [sys.executable, "-m", "impasto.runtime.cli"]
    for text in ("[]", "{}", '{"models": 5}', '{"models": [1]}'):
        (tmp_path / "manifest.json").write_text(text)
        done = subprocess.run([*command, "models"], capture_output=True, text=True, timeout=60,
                              env={**env, MODELS_PATH_VARIABLE: str(tmp_path)})  # fmt: skip
        assert done.returncode == 2 and "not an Impasto manifest" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([*command, "models"], capture_output=True, text=True, timeout=60,
                          env={**env, MODELS_PATH_VARIABLE: str(tmp_path / "absent")})  # fmt: skip
    assert done.returncode == 2 and "is not a folder" in done.stderr
    out = tmp_path / "o.png"
    done = run_cli("stylize", PHOTO, "--model", NET, "--tile", "20", "-o", out)
    assert_one_line_failure(done, out, "too small")
    done = run_cli("stylize", PHOTO, "--model", NET, "--cache-dir", PHOTO, "-o", out)
    assert_one_line_failure(done, out, "not a folder")


def test_optimize_reads_stdin_and_writes_stdout():
    command = [sys.executable, "-m", "impasto.runtime.cli", "optimize", "--content", "-", "--size", "48", "--iters",
               "2", "-o", "-", "--quiet"]  # fmt: skip
    done = subprocess.run(command, input=PHOTO.read_bytes(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert max(decode_image(done.stdout, "stdout").shape[:2]) == 48
