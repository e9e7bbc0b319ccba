"""Which files are images, and where results may be written: every check before any work."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder

READABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".gif")
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
PHOTO_SUFFIXES = (".heic", ".heif", ".avif")  # read, not written: their results are written as JPEG


STDIO = "-"  # as an input: stdin; as an output: stdout, where a command can write there


def check_output_path(path: str | Path, suffixes=WRITABLE_SUFFIXES, kind: str = "output") -> Path:
    """Fail early, before any work, when the result could not be written there (``kind`` names it in errors)."""
    if str(path) == STDIO:
        raise ImpastoError(f"-: this command cannot write its {kind} to stdout; name a file")
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ImpastoError(f"{path}: unsupported {kind} type {path.suffix or '(none)'}; use {', '.join(suffixes)}")
    if path.is_dir():
        raise ImpastoError(f"{path}: is a folder, not a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImpastoError(f"{path}: folder {folder} does not exist")
    check_writable_folder(folder, path)
    return path


def check_writable_folder(folder: Path, named: str | Path | None = None) -> None:
    """ImpastoError unless a file can be created in ``folder`` (``named``: what the error names, default the
    folder). A real file is made and removed: permission bits say nothing to root, nor about a read-only mount."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".impasto-probe-")
    except OSError as error:
        raise ImpastoError(f"{named or folder}: cannot create a file in folder {folder} ({error.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def naming(path: str | Path, error: Exception) -> str:
    """``error``'s message, beginning with the file's name when it does not already (a folder's bad file must be
    named, whichever step refused it)."""
    message = str(error)
    return message if message.startswith(str(path)) else f"{path}: {message}"


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
    if str(output) == STDIO:
        raise ImpastoError("-o - writes one image to stdout: give one input file (or name an output folder)")
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
        given = path.suffix.lower()
        suffix = given if given in WRITABLE_SUFFIXES else ".jpg" if given in PHOTO_SUFFIXES else ".png"
        planned.append(output / f"{path.stem}-{label}{suffix}")
    refuse_overwriting_inputs(inputs, planned)
    seen: dict[Path, Path] = {}
    for source, target in zip(inputs, planned, strict=True):
        if target in seen and seen[target] == source:
            raise ImpastoError(f"{source}: given twice")
        if target in seen:
            raise ImpastoError(
                f"{seen[target]} and {source} share a file name: both would be written to {target}; stylise them "
                "into different folders"
            )
        seen[target] = source
    make_folder(output)  # only once every other check has passed: a refused run leaves nothing behind
    check_writable_folder(output)
    return planned


def refuse_overwriting_inputs(inputs: list[Path], outputs: list[Path]) -> list[Path]:
    """``outputs`` unchanged, or ImpastoError when one of them is one of the input files (a result never replaces
    its source)."""
    sources = {path.resolve() for path in inputs if path.exists()}
    for output in outputs:
        if output.resolve() in sources:
            raise ImpastoError(f"{output}: is an input; the result would replace it (choose another output)")
    return outputs
