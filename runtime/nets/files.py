"""``impasto stylize``: files and folders of photos through a transformer net, batched, tiled when large.

Consecutive images that come out the same size after resizing are run together in batches; an image larger than
one tile is stylised tile by tile (``tiling.py``) so memory stays bounded whatever the photo's size. Every output
path is checked before any work, every result is written atomically, and one bad file in a folder does not cost
the others.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media import MAX_PIXELS
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.media.paths import naming
from impasto.runtime.nets.stylizer import StylizeOptions, Stylizer
from impasto.runtime.nets.tiling import tile_count

BATCH_SIZE = 4  # images of one size per session run


@dataclass
class FilesReport:
    """What a run over many files did: (input, output) pairs written, and (input, one-line reason) for failures."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def stylize_files(
    stylizer: Stylizer,
    inputs: list[Path],
    outputs: list[Path],
    options: StylizeOptions,
    batch_size: int = BATCH_SIZE,
    quiet: bool = False,
    strict: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> FilesReport:
    """Stylise in input order, running up to ``batch_size`` consecutive images of one size as a batch; memory holds
    one batch.

    A file that cannot be read (or written) is named on stderr as it happens and the run goes on; the report lists
    it. ``strict``: the first such file stops the run with its ImpastoError instead. Results written are complete
    files either way. The bar is erased before an error is reported, and off when stderr is not a terminal.
    """
    report = FilesReport()
    bar = tqdm(total=len(inputs), desc=f"stylize {stylizer.name}", unit="img", disable=True if quiet else None)

    def fail(path: Path, error: ImpastoError) -> None:
        message = naming(path, error)
        if strict:
            raise ImpastoError(message) from None
        report.failed.append((path, message))
        tqdm.write(f"impasto: error: {message}", file=sys.stderr)
        bar.update(1)

    try:
        group: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            results = stylizer.stylize_many([image for _, image in group], options)
            for (index, _), result in zip(group, results, strict=True):
                try:
                    write_image(outputs[index], result)
                except ImpastoError as error:
                    fail(inputs[index], error)
                    continue
                report.written.append((inputs[index], outputs[index]))
                bar.update(1)
            group.clear()

        for index, path in enumerate(inputs):
            try:
                image = stylizer.prepare(read_image(path, stylizer.min_side, max_pixels), options.size)
            except ImpastoError as error:
                fail(path, error)
                continue
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
    return report
