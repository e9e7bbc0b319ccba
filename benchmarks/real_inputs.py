"""Issue 12's figures: tiled statistics on panoramas, and the cost of refusing an image over the pixel limit.

1. Tiling: a 4800×600 panorama and a 1960×1470 photo of the same pixel count (four shipped photos side by side),
   1024-px tiles, against one pass of the shipped default style: mean |Δ| in levels for statistics from a copy by long
   side (before), from a copy of one tile's pixels, of two tiles' pixels (the default now), and from each tile alone.
   The panorama's three results go to ``panorama_tiles.jpg``.
2. Refusals: images declaring 9000×9000 pixels (4000×4000 for HEIC) in each format, refused by the reader's pixel
   limit: time and resident-memory growth, against decoding the same file.

    python benchmarks/real_inputs.py [-o benchmarks/real_inputs.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
from PIL import Image

from impasto.runtime.core.machine import cpu_description
from impasto.runtime.core.registry import default_name, sample_path
from impasto.runtime.media.decode import ImageTooLarge, decode_image, read_image
from impasto.runtime.media.resize import resize, resize_long_side
from impasto.runtime.nets.stylizer import Stylizer
from impasto.runtime.nets.tiling import statistics_copy, stylize_tiled

TILE, OVERLAP = 1024, 128


def tiling_rows() -> list[dict]:
    stylizer = Stylizer(default_name())
    model = stylizer.net
    net, extra = model.global_norm(), model.style_feeds()
    photos = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
    strip = np.concatenate([resize(read_image(sample_path(f"images/{name}")), (900, 600)) for name in photos], axis=1)
    rows = []
    for label, image in (
        ("4800×600 panorama", resize(strip, (4800, 600))),
        ("1960×1470 photo", resize(strip, (1960, 1470))),
    ):
        whole = model.stylize(image)

        def tiled_with(sample: np.ndarray, image: np.ndarray = image) -> np.ndarray:
            stats = net.stats(sample, extra)
            return stylize_tiled(lambda part: net.stylize(part, stats, extra), image, TILE, OVERLAP)

        row = {"image": label, "style": stylizer.name}
        row["long_side_copy"] = float(np.abs(tiled_with(resize_long_side(image, TILE)) - whole).mean())
        row["one_tile_of_pixels"] = float(np.abs(tiled_with(statistics_copy(image, TILE)) - whole).mean())
        default = tiled_with(statistics_copy(image, round(TILE * 2**0.5)))
        row["two_tiles_of_pixels"] = float(np.abs(default - whole).mean())
        own = stylize_tiled(model.stylize, image, TILE, OVERLAP)
        row["each_tile_its_own"] = float(np.abs(own - whole).mean())
        if image.shape[1] > 2 * image.shape[0]:
            shared = "tiled, shared statistics (default)"
            _write_sheet([(whole, "one pass"), (default, shared), (own, "tiled, each tile its own")])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def _write_sheet(rows: list[tuple[np.ndarray, str]]) -> None:
    """The panorama's results one above the other, labelled, at 2/5 size: ``panorama_tiles.jpg``."""
    labelled = []
    for image, label in rows:
        pixels = np.ascontiguousarray(np.clip(np.rint(image), 0, 255), dtype=np.uint8)
        cv2.putText(pixels, label, (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3, cv2.LINE_AA)
        labelled.append(pixels)
    sheet = Image.fromarray(np.concatenate(labelled, axis=0))
    sheet = sheet.resize((sheet.width * 2 // 5, sheet.height * 2 // 5), Image.LANCZOS)
    sheet.save(Path(__file__).with_name("panorama_tiles.jpg"), quality=85)


def refusal_rows() -> list[dict]:
    process = psutil.Process()
    rows = []
    for fmt, side in (("WEBP", 9000), ("PNG", 9000), ("JPEG", 9000), ("TIFF", 9000), ("HEIF", 4000)):
        buffer = io.BytesIO()
        options = (
            {"quality": 5}
            if fmt in ("WEBP", "JPEG", "HEIF")
            else {"compression": "tiff_deflate"}
            if fmt == "TIFF"
            else {}
        )
        Image.new("RGB", (side, side), (90, 120, 200)).save(buffer, fmt, **options)
        data = buffer.getvalue()
        before, began = process.memory_info().rss, time.perf_counter()
        try:
            decode_image(data, fmt, max_pixels=side * side - 1)
            raise SystemExit(f"{fmt}: not refused")
        except ImageTooLarge:
            refused = time.perf_counter() - began
        grown = process.memory_info().rss - before
        began = time.perf_counter()
        decoded = decode_image(data, fmt, max_pixels=side * side)
        decoding = time.perf_counter() - began
        del decoded
        row = {"format": fmt, "pixels": f"{side}×{side}", "bytes": len(data), "refused_ms": round(refused * 1e3, 2),
               "rss_growth_mb": round(grown / 2**20, 1), "decode_s": round(decoding, 2)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("real_inputs.json"))
    args = parser.parse_args()
    result = {"machine": cpu_description(), "tiling": tiling_rows(), "refusals": refusal_rows()}
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
