"""Which files are images, and where results may be written: every check before any work."""

from __future__ import annotations

import os
import re
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder

READABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def check_output_path(path: str | Path, suffixes=WRITABLE_SUFFIXES, kind: str = "output") -> Path:
    """Fail early, before any work, when the result could not be written there (``kind`` names it in errors)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ImpastoError(f"{path}: unsupported {kind} type {path.suffix or '(none)'}; use {', '.join(suffixes)}")
    if path.is_dir():
        raise ImpastoError(f"{path}: is a folder, not a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImpastoError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ImpastoError(f"{path}: folder {folder} is not writable")
    return path


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, and the images directly inside any folder given, in a stable order."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES)
            if not images:
                raise ImpastoError(f"{item}: no images in this folder")
            found.extend(images)
        elif item.exists():
            found.append(item)
        else:
            raise ImpastoError(f"{item}: no such file or folder")
    return found


def plan_outputs(inputs: list[Path], output: str | Path, model_name: str) -> list[Path]:
    """One output per input: ``output`` itself for a single input named as a file (it has a suffix; an unsupported
    one is refused, not made a folder), else ``DIR/<stem>-<model>.ext`` (a dotted folder name takes a trailing /)."""
    named_folder = str(output).endswith(("/", os.sep))
    output = Path(output)
    if output.suffix and not output.is_dir() and not named_folder:
        if len(inputs) != 1:
            raise ImpastoError(f"{output}: {len(inputs)} inputs need an output folder, not a file name")
        return [refuse_overwriting_inputs(inputs, [check_output_path(output)])[0]]
    if output.exists() and not output.is_dir():
        raise ImpastoError(f"{output}: exists and is not a folder")
    planned = []
    label = re.sub(r"[^\w.+-]+", "-", model_name)  # a blend's name (a:0.7,b:0.3) made a file name
    for path in inputs:
        suffix = path.suffix.lower() if path.suffix.lower() in WRITABLE_SUFFIXES else ".png"
        planned.append(output / f"{path.stem}-{label}{suffix}")
    refuse_overwriting_inputs(inputs, planned)
    if len(set(planned)) != len(planned):
        raise ImpastoError("two inputs share a file name; stylise them into different folders")
    make_folder(output)  # only once every other check has passed: a refused run leaves nothing behind
    return [check_output_path(path) for path in planned]


def refuse_overwriting_inputs(inputs: list[Path], outputs: list[Path]) -> list[Path]:
    """``outputs`` unchanged, or ImpastoError when one of them is one of the input files (a result never replaces
    its source)."""
    sources = {path.resolve() for path in inputs if path.exists()}
    for output in outputs:
        if output.resolve() in sources:
            raise ImpastoError(f"{output}: is an input; the result would replace it (choose another output)")
    return outputs
