"""``impasto stylize``: files and folders of photos through a transformer net, batched, tiled when large.

Consecutive images that come out the same size after resizing are run together in batches; an image larger than
one tile is stylised tile by tile (``tiling.py``) so memory stays bounded whatever the photo's size. Every output
path is checked before any work, and every result is written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from impasto.runtime.color import restore_chroma
from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import (
    WRITABLE_SUFFIXES,
    check_output_path,
    make_folder,
    read_image,
    resize_long_side,
    write_image,
)
from impasto.runtime.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, stylize_large, tile_count
from impasto.runtime.transformer_model import TransformerModel

INPUT_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class StylizeSettings:
    size: int | None = None  # longer side; None keeps each photo's size
    preserve_color: bool = False
    batch_size: int = 4
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    stats_side: int | None = None  # None: the tile size


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, and the images directly inside any folder given, in a stable order."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
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
        return [check_output_path(output)]
    if output.exists() and not output.is_dir():
        raise ImpastoError(f"{output}: exists and is not a folder")
    make_folder(output)
    planned = []
    for path in inputs:
        suffix = path.suffix.lower() if path.suffix.lower() in WRITABLE_SUFFIXES else ".png"
        planned.append(check_output_path(output / f"{path.stem}-{model_name}{suffix}"))
    if len(set(planned)) != len(planned):
        raise ImpastoError("two inputs share a file name; stylise them into different folders")
    return planned


def stylize_image(model: TransformerModel, image: np.ndarray, settings: StylizeSettings) -> np.ndarray:
    """One image, tiled when it is larger than a tile; colours restored afterwards if asked."""
    out = stylize_large(model, image, settings.tile, settings.overlap, settings.stats_side)
    return restore_chroma(out, image) if settings.preserve_color else out


def _load(path: Path, model: TransformerModel, settings: StylizeSettings) -> np.ndarray:
    image = read_image(path, min_side=model.min_side)
    return resize_long_side(image, settings.size) if settings.size else image


def stylize_files(
    model: TransformerModel, inputs: list[Path], outputs: list[Path], settings: StylizeSettings, quiet: bool = False
) -> None:
    """Stylise in input order, running consecutive images of one size as a batch; memory holds one batch.

    A file that cannot be read stops the run with its reason; results already written are complete files. The bar
    is erased before the error is reported, and off when stderr is not a terminal, so the error is the one line left.
    """
    bar = tqdm(total=len(inputs), desc=f"stylize {model.name}", unit="img", disable=True if quiet else None)
    try:
        group: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            images = [image for _, image in group]
            if len(images) > 1:
                results = model.stylize_batch(images)
                if settings.preserve_color:
                    results = [restore_chroma(out, image) for out, image in zip(results, images, strict=True)]
            else:
                results = [stylize_image(model, images[0], settings)]
            for (index, _), result in zip(group, results, strict=True):
                write_image(outputs[index], result)
            bar.update(len(group))
            group.clear()

        for index, path in enumerate(inputs):
            image = _load(path, model, settings)
            fits = tile_count(image.shape, settings.tile, settings.overlap) == 1
            if group and (group[0][1].shape != image.shape or len(group) == settings.batch_size or not fits):
                flush()
            group.append((index, image))
            if not fits:
                flush()
        if group:
            flush()
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()
