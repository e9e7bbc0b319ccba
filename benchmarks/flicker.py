"""Flicker of stylised video, with and without the flow-guided temporal blend.

    python benchmarks/flicker.py --json benchmarks/flicker.json

A 48-frame clip pans and zooms slowly across a shipped photo, with a little sensor noise per frame (the noise is
what makes per-frame stylisation flicker on a real camera). For every shipped net and blend strength, flicker is
the warping error of ``impasto.runtime.nets.temporal`` (mean |S_t − warp(S_t−1)| over reliably tracked pixels, 0–255);
"departure" is how far the blended frames are from the per-frame stylisation (the price of the smoothing).
Writes a JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from impasto.runtime.core.registry import TRANSFORMER, names, shipped_models_dir
from impasto.runtime.media.decode import read_image
from impasto.runtime.nets.temporal import TemporalBlender, warping_error
from impasto.runtime.nets.transformer import TransformerModel

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STRENGTHS = (0.0, 0.3, 0.6, 0.8)


def make_clip(photo: np.ndarray, frames: int = 48, size: tuple[int, int] = (320, 240), noise: float = 4.0):
    """Frames of a slow zoom-and-pan over ``photo``, each with fresh Gaussian noise of ``noise`` levels."""
    rng = np.random.default_rng(0)
    height, width = photo.shape[:2]
    clip = []
    for t in range(frames):
        zoom = 1.0 + 0.004 * t
        crop_w, crop_h = width / (1.6 * zoom), height / (1.6 * zoom)
        cx, cy = width * (0.4 + 0.002 * t), height * 0.5
        matrix = np.array(
            [[size[0] / crop_w, 0, -(cx - crop_w / 2) * size[0] / crop_w],
             [0, size[1] / crop_h, -(cy - crop_h / 2) * size[1] / crop_h]], dtype=np.float32,
        )  # fmt: skip
        frame = cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR)
        clip.append(np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.float32))
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="astronaut.png")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/flicker.json"))
    args = parser.parse_args()
    clip = make_clip(read_image(shipped_models_dir() / "images" / args.photo))
    results = {"clip": f"{args.photo}, 48 frames 320x240, slow zoom+pan, noise sigma 4", "models": {}}
    for name in [style for net in names(TRANSFORMER) for style in TransformerModel(net).styles or [net]]:
        model = TransformerModel(name)
        plain = [model.stylize(frame) for frame in clip]
        rows = {}
        for strength in STRENGTHS:
            blender = TemporalBlender(strength)
            blended = [blender.apply(frame, out) for frame, out in zip(clip, plain, strict=True)]
            departure = float(np.mean([np.abs(b - p).mean() for b, p in zip(blended, plain, strict=True)]))
            rows[str(strength)] = {"flicker": round(warping_error(clip, blended), 3), "departure": round(departure, 3)}
        results["models"][name] = rows
        base = rows["0.0"]["flicker"]
        print(
            f"{name:<24} "
            + "  ".join(
                f"blend {s}: {rows[str(s)]['flicker']:.2f} ({rows[str(s)]['flicker'] / base:.0%})" for s in STRENGTHS
            ),
            flush=True,
        )
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    fig, axis = plt.subplots(figsize=(6, 4))
    for name, rows in results["models"].items():
        axis.plot(STRENGTHS, [rows[str(s)]["flicker"] for s in STRENGTHS], marker="o", label=name)
    axis.set_xlabel("blend strength")
    axis.set_ylabel("warping error (0–255)")
    axis.set_title("flicker between consecutive stylised frames")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.json.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    main()
