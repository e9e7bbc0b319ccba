"""models/manifest.json: what is shipped, where its files are, and their checksums.

The manifest's descriptive fields are copied from the ONNX files' metadata when they are exported, so the two never
disagree; the runtime reads names and file locations from here and everything else from the model itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from impasto.runtime.errors import ImpastoError

MANIFEST = "manifest.json"


def shipped_models_dir() -> Path:
    import impasto.models

    return Path(impasto.models.__file__).parent


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    folder = folder or shipped_models_dir()
    path = folder / MANIFEST
    if not path.is_file():
        return {"format": 1, "models": []}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ImpastoError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from error
    return manifest


def find_model(name: str, folder: Path | None = None) -> tuple[dict, Path]:
    """The manifest entry called ``name`` and the folder its files are relative to."""
    folder = folder or shipped_models_dir()
    models = read_manifest(folder)["models"]
    for entry in models:
        if entry["name"] == name:
            return entry, folder
    known = ", ".join(entry["name"] for entry in models) or "none"
    raise ImpastoError(f"no model named {name!r} in {folder / MANIFEST} (shipped: {known})")


def resolve_model_file(model: str | Path, kind: str, what: str, file_key: str) -> Path:
    """A path to an ``.onnx`` file as given, or the ``file_key`` file of the manifest entry named ``model``,
    which must be of ``kind`` (``what`` names that kind in the error)."""
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        return path
    entry, folder = find_model(str(model))
    if entry.get("kind") != kind:
        raise ImpastoError(f"model {model!r} is a {entry.get('kind')}, not {what}")
    files = entry["files"]
    if file_key not in files:
        raise ImpastoError(f"model {model!r} has no {file_key} file (it has {', '.join(files)})")
    return folder / files[file_key]


def verify_checksums(entry: dict, folder: Path) -> list[str]:
    """Files of ``entry`` whose SHA-256 differs from the manifest (empty when all match)."""
    return [name for name, digest in entry["sha256"].items() if sha256_file(folder / name) != digest]
