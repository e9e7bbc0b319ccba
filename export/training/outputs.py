"""Every place a training run writes, made and checked before any work: a run that cannot save its checkpoint or
its nets must not find out after hours of training. The folders are created here (creating one is the surest test
that it can be), and each file's place is checked by ``check_output_path``."""

from __future__ import annotations

import contextlib
from pathlib import Path

from impasto.export.precision import variant_path
from impasto.export.training.settings import TrainSettings
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder
from impasto.runtime.core.registry import MANIFEST
from impasto.runtime.media.paths import STDIO, check_output_path

CHECKPOINT = "checkpoint.pt"
PREVIEWS = "previews"


def output_files(settings: TrainSettings) -> dict[Path, tuple[tuple[str, ...] | None, str]]:
    """Each file a run writes → (the suffixes its check allows, None for images; what it is, for errors)."""
    work, model = Path(settings.work_dir), Path(settings.out_dir) / f"{settings.name}.onnx"
    return {
        work / CHECKPOINT: ((".pt",), "checkpoint"),
        work / PREVIEWS / "final.jpg": (None, "preview"),
        model: ((".onnx",), "model"),
        variant_path(model, "fp16"): ((".onnx",), "model"),
        model.parent / MANIFEST: ((".json",), "manifest"),
    }


def prepare_outputs(settings: TrainSettings) -> list[Path]:
    """Create the work folder (with its previews) and the output folder and check every file's place, or raise
    ImpastoError in one line. Returns the folders this call created, outermost first, for ``remove_created``."""
    for given, option in ((settings.out_dir, "-o"), (settings.work_dir, "--work")):
        if str(given) == STDIO:
            raise ImpastoError(f"{option} -: training writes folders, not stdout; name a folder")
    created: list[Path] = []
    try:
        for folder in (Path(settings.work_dir) / PREVIEWS, Path(settings.out_dir)):
            created += [p for p in [folder, *folder.parents] if not p.exists()][::-1]
            make_folder(folder)
        for path, (suffixes, kind) in output_files(settings).items():
            if suffixes is None:
                check_output_path(path, kind=kind)
            else:
                check_output_path(path, suffixes, kind)
    except BaseException:
        remove_created(created)
        raise
    return created


def remove_created(folders: list[Path]) -> None:
    """Remove the (empty) folders ``prepare_outputs`` made, innermost first: a refused run leaves nothing behind."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()
