"""Comparison sheet: content | style | result for public-domain pairs, made by the torch-free runtime.

    python benchmarks/comparison_sheet.py --size 512 --iters 300 --out benchmarks/gatys_sheet.jpg

Uses only images the repository may ship (models/images: free sample photos and public-domain paintings).
Also writes <out>.json with each pair's settings and loss history, and a loss-curve plot beside it. The sheet is
about looks: its wall-clock seconds (in the JSON) are not benchmarks, see loss_grad.py for those.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize, read_image, write_image
from impasto.runtime.core.registry import shipped_models_dir
from impasto.runtime.media.encode import encode_image, write_atomic
from impasto.runtime.media.resize import resize

PAIRS = (
    ("chelsea.png", "great-wave.jpg"),
    ("astronaut.png", "the-scream.jpg"),
    ("coffee.png", "composition-vii.jpg"),
    ("rocket.jpg", "starry-night.jpg"),
)
CELL = 320


def labelled_cell(image: np.ndarray, label: str) -> np.ndarray:
    height, width = image.shape[:2]
    scale = CELL / max(height, width)
    fitted = resize(image, (round(width * scale), round(height * scale)))
    canvas = np.full((CELL + 28, CELL, 3), 255, np.uint8)  # putText draws on 8-bit images only
    top, left = (CELL - fitted.shape[0]) // 2, (CELL - fitted.shape[1]) // 2
    canvas[top : top + fitted.shape[0], left : left + fitted.shape[1]] = np.clip(np.rint(fitted), 0, 255)
    cv2.putText(canvas, label, (6, CELL + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--model", default="vgg16-avg")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/gatys_sheet.jpg"))
    parser.add_argument("--work", type=Path, default=Path(".sheet-work"), help="finished pairs, reused on a rerun")
    args = parser.parse_args()
    args.work.mkdir(exist_ok=True)
    images = shipped_models_dir() / "images"
    model = GatysLossModel(args.model)
    rows, report = [], []
    for content_name, style_name in PAIRS:
        content, style = read_image(images / content_name), read_image(images / style_name)
        key = f"{Path(content_name).stem}_{Path(style_name).stem}_{args.size}_{args.iters}"
        done_image, done_json = args.work / f"{key}.png", args.work / f"{key}.json"
        if done_image.is_file() and done_json.is_file():
            image, entry = read_image(done_image), json.loads(done_json.read_text())
        else:
            start = time.perf_counter()
            result = optimize(model, content, [style], OptimizeSettings(size=args.size, iters=args.iters))
            image = result.image
            entry = {
                "content": content_name,
                "style": style_name,
                "size": args.size,
                "iters": args.iters,
                "seconds": round(time.perf_counter() - start, 1),
                "start": result.history[0],
                "end": result.history[-1],
                "history": result.history,
            }
            write_image(done_image, image)
            write_atomic(done_json, json.dumps(entry).encode())
        label = f"result, {args.iters} L-BFGS iterations"
        rows.append(
            np.hstack(
                [labelled_cell(content, content_name), labelled_cell(style, style_name), labelled_cell(image, label)]
            )
        )
        report.append(entry)
        print(
            f"{content_name} × {style_name}: style loss {entry['start']['style']:.4g} → {entry['end']['style']:.4g}",
            flush=True,
        )
    sheet = np.vstack(rows)
    write_atomic(args.out, encode_image(sheet, ".jpg"))
    write_atomic(args.out.with_suffix(".json"), json.dumps(report, indent=1).encode())
    _plot(report, args.out.with_name(args.out.stem + "_loss.png"))
    print(f"wrote {args.out}")


def _plot(report: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for pair in report:
        axis.semilogy([step["loss"] for step in pair["history"]], label=f"{pair['content']} × {pair['style']}")
    axis.set_xlabel("L-BFGS iteration")
    axis.set_ylabel("total loss")
    axis.set_title(f"Gatys optimisation on onnxruntime, {report[0]['size']} px")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
