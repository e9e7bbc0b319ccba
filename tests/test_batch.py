"""``impasto batch`` on a local Ray instance: the same results as ``impasto stylize``, and a rerun resumes."""

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
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
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


def test_batch_bad_input_is_one_line(tmp_path):
    output = tmp_path / "out"
    assert_one_line_failure(run_cli("batch", tmp_path / "absent", "-o", output, "--model", NET), output, "not a folder")
    done = run_cli("batch", tmp_path, "-o", output, "--model", "no-such-net")
    assert_one_line_failure(done, output, "no model named")
