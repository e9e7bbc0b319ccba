"""Comparison sheet for the shipped styles: each on three photos it was not trained on.

    python benchmarks/transformer_sheet.py --size 512 --out benchmarks/transformer_sheet.jpg

Top row: the style paintings. Then one row per photo: the photo, then each style's one-pass result, made by the
torch-free runtime exactly as `impasto stylize` makes it. Only images the repository may ship are used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from comparison_sheet import CELL, labelled_cell
from transformer_quality import shipped_styles, style_file

from impasto.runtime.core.registry import shipped_models_dir
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import encode_image, write_atomic
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.nets.transformer import TransformerModel

PHOTOS = ("chelsea.png", "astronaut.png", "coffee.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long side the nets see")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/transformer_sheet.jpg"))
    args = parser.parse_args()
    images = shipped_models_dir() / "images"
    models = [TransformerModel(style) for style in shipped_styles()]
    header = [np.full((CELL + 28, CELL, 3), 255, np.uint8)]
    for model in models:
        style = style_file(model)
        header.append(labelled_cell(read_image(images / style), f"{model.name} ({style})"))
    rows = [np.concatenate(header, axis=1)]
    for photo_name in PHOTOS:
        for model in models:
            trained_on = json.loads(model.metadata["impasto.trained_on"])
            assert photo_name not in trained_on, f"{model.name} was trained on {photo_name}"
        photo = resize_long_side(read_image(images / photo_name), args.size)
        cells = [labelled_cell(photo, photo_name)]
        cells += [labelled_cell(model.stylize(photo), model.name) for model in models]
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0).astype(np.float32)
    write_atomic(args.out, encode_image(sheet, args.out.suffix))
    print(f"wrote {args.out} ({len(models)} models × {len(PHOTOS)} photos)")


if __name__ == "__main__":
    main()
