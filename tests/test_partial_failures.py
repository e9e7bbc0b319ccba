"""A folder where one photo is broken: the good ones are stylised, the bad one is named, the exit status says so."""

from __future__ import annotations

import json
import shutil

import numpy as np
from conftest import photo, run_cli
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee")


def _folder_with_a_truncated_photo(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(photo(name), folder / photo(name).name)
    data = photo("rocket").read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 2])  # sorts before chelsea: in the middle of the run
    return folder


def test_the_good_photos_are_written_and_the_bad_one_named(tmp_path):
    folder = _folder_with_a_truncated_photo(tmp_path)
    output = tmp_path / "out"
    done = run_cli("stylize", folder, "-o", output, "--size", "48", "--quiet")
    assert done.returncode == 1, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in done.stderr, done.stderr
    assert "broken.jpg" in errors[0] and "truncated or corrupt" in errors[0]
    assert errors[1] == "impasto: error: 1 of 4 inputs could not be stylised (named above)"
    made = sorted(p.name.split("-")[0] for p in output.iterdir())
    assert made == sorted(PHOTOS)
    assert done.stdout.count("wrote ") == 3


def test_json_lists_what_failed(tmp_path):
    folder = _folder_with_a_truncated_photo(tmp_path)
    done = run_cli("stylize", folder, "-o", tmp_path / "out", "--size", "48", "--quiet", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [item["input"].rsplit("/", 1)[-1] for item in report["failed"]] == ["broken.jpg"]
    assert len(report["results"]) == 3


def test_strict_stops_at_the_first_bad_photo(tmp_path):
    folder = _folder_with_a_truncated_photo(tmp_path)
    output = tmp_path / "out"
    done = run_cli("stylize", folder, "-o", output, "--size", "48", "--quiet", "--strict")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.jpg" in lines[0], done.stderr
    assert not any(p.name.startswith(("broken", "chelsea", "coffee")) for p in output.iterdir())


def test_dash_output_is_stdout_never_a_folder_named_dash(tmp_path):
    folder = _folder_with_a_truncated_photo(tmp_path)
    for command in (
        ("stylize", folder, "-o", "-"),
        ("batch", folder, "-o", "-"),
        ("stylize", folder, folder, "-o", "-"),
    ):
        done = run_cli(*command, "--quiet", cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "-").exists(), command


def test_every_kind_of_bad_file_is_named_and_costs_only_itself(tmp_path):
    """A damaged AVIF (its decoder raises RuntimeError), an image too thin for the size asked, a text file named
    .png: each named on its own line, the good photo written."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo("chelsea"), folder / "chelsea.png")
    Image.fromarray(np.full((16, 4000, 3), 90, np.uint8)).save(folder / "thin.png")  # at --size 48: 48×0
    (folder / "notes.png").write_text("not a picture\n" * 20)
    (folder / "damaged.avif").write_bytes(_avif_its_decoder_raises_runtime_error_on())
    output = tmp_path / "out"
    done = run_cli("stylize", folder, "-o", output, "--size", "48", "--quiet")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    errors = done.stderr.strip().splitlines()
    named = {
        name: [line for line in errors if f"{name}:" in line] for name in ("damaged.avif", "thin.png", "notes.png")
    }
    assert all(len(lines) == 1 for lines in named.values()), done.stderr
    assert errors[-1] == "impasto: error: 3 of 4 inputs could not be stylised (named above)"
    assert [p.name.split("-")[0] for p in output.iterdir()] == ["chelsea"]


def _avif_its_decoder_raises_runtime_error_on() -> bytes:
    """A real AVIF with a few bytes changed, chosen so that Pillow's own AVIF decoder raises RuntimeError (about 1
    in 70 such changes does, e.g. "Decoding of color planes failed")."""
    import io

    buffer = io.BytesIO()
    Image.open(photo("coffee")).convert("RGB").save(buffer, "AVIF", quality=80)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        damaged = bytearray(buffer.getvalue())
        for at in rng.integers(0, len(damaged), 4):
            damaged[at] = int(rng.integers(0, 256))
        try:
            Image.open(io.BytesIO(bytes(damaged))).load()
        except RuntimeError:
            return bytes(damaged)
        except Exception:
            continue
    raise AssertionError("no change of an AVIF made its decoder raise RuntimeError")
