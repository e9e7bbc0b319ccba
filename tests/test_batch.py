"""``impasto batch`` on a local Ray instance: the same results as ``impasto stylize``; a rerun resumes what the same
settings made and redoes what other settings made; a bad file is named and costs only itself."""

from __future__ import annotations

import shutil

import pytest
from conftest import assert_one_line_failure, run_cli

pytest.importorskip("ray")

NET = "great-wave"  # a style of the shipped six-paintings net


def test_batch_equals_stylize_and_a_rerun_skips_what_is_done(tmp_path, photos, paintings):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in (*photos.values(), paintings["udnie"]):  # five images, two sizes after resizing
        shutil.copy(path, inputs / path.name)
    common = ("--model", NET, "--size", "64", "--quiet")
    done = run_cli("batch", inputs, "-o", tmp_path / "out", "--actors", "2", "--batch-size", "2", *common, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("5 stylised, 0 already done, of 5")
    reference = run_cli("stylize", inputs, "-o", tmp_path / "reference", *common)
    assert reference.returncode == 0, reference.stderr
    made = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert made == sorted(p.name for p in (tmp_path / "reference").iterdir()) and len(made) == 5
    for name in made:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name

    (tmp_path / "out" / made[0]).unlink()
    again = run_cli("batch", inputs, "-o", tmp_path / "out", *common, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().startswith("1 stylised, 4 already done, of 5")
    assert (tmp_path / "out" / made[0]).read_bytes() == (tmp_path / "reference" / made[0]).read_bytes()
    finished = run_cli("batch", inputs, "-o", tmp_path / "out", *common)
    assert finished.stdout.strip().startswith("0 stylised, 5 already done")
    # other settings make other images: nothing is "already done"
    other = run_cli("batch", inputs, "-o", tmp_path / "out", *common, "--strength", "0.5", timeout=600)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip().startswith("5 stylised, 0 already done, of 5"), other.stdout
    assert (tmp_path / "out" / made[0]).read_bytes() != (tmp_path / "reference" / made[0]).read_bytes()
    back = run_cli("batch", inputs, "-o", tmp_path / "out", *common, timeout=600)
    assert back.stdout.strip().startswith("5 stylised, 0 already done, of 5"), back.stdout


def test_batch_names_a_truncated_photo_and_does_the_others(tmp_path, photos):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in photos.values():
        shutil.copy(path, inputs / path.name)
    data = photos["rocket"].read_bytes()
    (inputs / "broken.jpg").write_bytes(data[: len(data) // 2])
    common = ("--model", NET, "--size", "48", "--quiet")
    done = run_cli("batch", inputs, "-o", tmp_path / "out", *common, timeout=600)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("impasto: error")]
    assert len(errors) == 2 and "broken.jpg" in errors[0] and "truncated" in errors[0], done.stderr
    assert f"1 of {len(photos) + 1} inputs" in errors[1]
    assert "Traceback" not in done.stderr
    made = sorted(p.stem.rsplit("-", 2)[0] for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert made == sorted(path.stem for path in photos.values())
    strict = run_cli("batch", inputs, "-o", tmp_path / "strict", *common, "--strict", "--actors", "1", timeout=600)
    assert strict.returncode == 2 and "broken.jpg" in strict.stderr and "Traceback" not in strict.stderr
    # an exact HxW size is remembered as such: the same settings again skip everything made
    exact = ("--model", NET, "--size", "48x64", "--quiet")
    first = run_cli("batch", inputs, "-o", tmp_path / "exact", *exact, timeout=600)
    again = run_cli("batch", inputs, "-o", tmp_path / "exact", *exact, timeout=600)
    assert first.stdout.startswith(f"{len(photos)} stylised, 0 already done"), first.stdout
    assert again.stdout.startswith(f"0 stylised, {len(photos)} already done"), again.stdout
    # the one line per bad file is all there is on stderr: no Ray log lines around it
    assert [
        line for line in again.stderr.splitlines() if "broken.jpg" not in line and "inputs could not" not in line
    ] == []


def test_batch_bad_input_is_one_line(tmp_path):
    output = tmp_path / "out"
    assert_one_line_failure(run_cli("batch", tmp_path / "absent", "-o", output, "--model", NET), output, "not a folder")
    done = run_cli("batch", tmp_path, "-o", output, "--model", "no-such-net")
    assert_one_line_failure(done, output, "no model named")
