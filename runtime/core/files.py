"""Folders made with one clear error instead of an OSError traceback (caches, outputs)."""

from __future__ import annotations

from pathlib import Path

from impasto.runtime.core.errors import ImpastoError


def make_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) or say in one line why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImpastoError(f"{folder}: cannot create this folder ({error.strerror})") from error
    return folder
