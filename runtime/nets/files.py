"""``impasto stylize``: files and folders of photos through a transformer net, batched, tiled when large.

Consecutive images that come out the same size after resizing are run together in batches; an image larger than
one tile is stylised tile by tile (``tiling.py``) so memory stays bounded whatever the photo's size. Every output
path is checked before any work, and every result is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.nets.stylizer import StylizeOptions, Stylizer
from impasto.runtime.nets.tiling import tile_count

BATCH_SIZE = 4  # images of one size per session run


def stylize_files(
    stylizer: Stylizer,
    inputs: list[Path],
    outputs: list[Path],
    options: StylizeOptions,
    batch_size: int = BATCH_SIZE,
    quiet: bool = False,
) -> None:
    """Stylise in input order, running up to ``batch_size`` consecutive images of one size as a batch; memory holds
    one batch.

    A file that cannot be read stops the run with its reason; results already written are complete files. The bar
    is erased before the error is reported, and off when stderr is not a terminal, so the error is the one line left.
    """
    bar = tqdm(total=len(inputs), desc=f"stylize {stylizer.name}", unit="img", disable=True if quiet else None)
    try:
        group: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            results = stylizer.stylize_many([image for _, image in group], options)
            for (index, _), result in zip(group, results, strict=True):
                write_image(outputs[index], result)
            bar.update(len(group))
            group.clear()

        for index, path in enumerate(inputs):
            image = stylizer.prepare(read_image(path, min_side=stylizer.min_side), options.size)
            fits = options.tile is None or tile_count(image.shape, options.tile, options.tile_overlap) == 1
            if group and (group[0][1].shape != image.shape or len(group) == batch_size or not fits):
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
