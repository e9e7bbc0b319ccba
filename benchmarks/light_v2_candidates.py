"""Issue 11's light v2 candidates against the v1 light net, before any training: multiply-adds, onnxruntime FPS at
640×480 on this machine's threads, and the grid share of freshly initialised nets' outputs (what the output stage
does by construction, before training decides the rest).

    python benchmarks/light_v2_candidates.py --json benchmarks/light_v2_candidates.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from impasto.export.training.transformer import ARCHITECTURES, CANDIDATES, build, multiply_adds
from impasto.export.training.transformer_export import export_transformer
from impasto.runtime.bench.runner import time_steps
from impasto.runtime.core.machine import cpu_description
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize
from impasto.runtime.nets.artefacts import grid_share

PHOTO = Path(__file__).resolve().parents[1] / "models" / "images" / "chelsea.png"


def fps(path: Path, threads: int, runs: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 480, 640)).astype(np.float32)
    _, times_ms = time_steps(lambda: session.run(None, {"image": frame}), runs, warmup=2)  # 3 untimed runs
    return 1000 / statistics.median(times_ms)


def untrained_grid_share(name: str, seeds: int) -> float:
    image = resize(read_image(PHOTO), (640, 480))
    batch = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    shares = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = build(name).eval()
        with torch.no_grad():
            out = net(batch)[0].numpy().transpose(1, 2, 0)
        shares.append(grid_share(out))
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ["light", *CANDIDATES]:
            torch.manual_seed(0)
            net = build(name)
            path = Path(folder) / f"{name}.onnx"
            export_transformer(net, path, {"name": name, "style": "none (freshly initialised)"})
            row = {
                "architecture": name,
                "gmac_640x480": round(multiply_adds(net, 480, 640) / 1e9, 3),
                "fps_640x480": round(fps(path, args.threads, args.runs), 1),
                "untrained_grid_share_percent": round(100 * untrained_grid_share(name, args.seeds), 2),
            }
            rows.append(row)
            print(json.dumps(row))
    document = {"machine": cpu_description(), "threads": args.threads, "reference": ARCHITECTURES["light"].name,
                "results": rows}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
