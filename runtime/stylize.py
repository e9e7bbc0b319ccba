"""``impasto stylize``: files and folders of photos through a transformer net, batched, tiled when large.

Images that come out the same size after resizing are run together in batches; an image larger than one tile is
stylised tile by tile (``tiling.py``) so memory stays bounded whatever the photo's size. Every output is checked
before any work and written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from impasto.runtime.color import restore_chroma
from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import WRITABLE_SUFFIXES, check_output_path, read_image, resize_long_side, write_image
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
    """One output per input: ``output`` itself for a single input named as a file, else ``DIR/<stem>-<model>.ext``."""
    output = Path(output)
    if output.suffix.lower() in WRITABLE_SUFFIXES and not output.is_dir():
        if len(inputs) != 1:
            raise ImpastoError(f"{output}: {len(inputs)} inputs need an output folder, not a file name")
        return [check_output_path(output)]
    if output.exists() and not output.is_dir():
        raise ImpastoError(f"{output}: exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
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


def stylize_files(
    model: TransformerModel, inputs: list[Path], outputs: list[Path], settings: StylizeSettings, quiet: bool = False
) -> None:
    """Read every input first (so a bad file stops the run before anything is written), then stylise in batches."""
    images = []
    for path in inputs:
        image = read_image(path, min_side=model.min_side)
        images.append(resize_long_side(image, settings.size) if settings.size else image)
    order = sorted(range(len(images)), key=lambda i: images[i].shape)
    with tqdm(total=len(images), desc=f"stylize {model.name}", unit="img", disable=quiet) as bar:
        group: list[int] = []
        for position, index in enumerate(order):
            group.append(index)
            next_index = order[position + 1] if position + 1 < len(order) else None
            same_size = next_index is not None and images[next_index].shape == images[index].shape
            fits = tile_count(images[index].shape, settings.tile, settings.overlap) == 1
            if same_size and fits and len(group) < settings.batch_size:
                continue
            if fits and len(group) > 1:
                results = model.stylize_batch([images[i] for i in group])
                if settings.preserve_color:
                    results = [restore_chroma(out, images[i]) for out, i in zip(results, group, strict=True)]
            else:
                results = [stylize_image(model, images[i], settings) for i in group]
            for i, result in zip(group, results, strict=True):
                write_image(outputs[i], result)
            bar.update(len(group))
            group = []
