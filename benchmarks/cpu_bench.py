"""The CPU figures of issue 4 through ``impasto bench`` itself: light and full nets, fp32 and int8, PyTorch eager.

    python benchmarks/cpu_bench.py            # writes benchmarks/bench_cpu.json and benchmarks/bench_cpu.png

The light net is the shipped six-paintings net (its great-wave style; fp32 and its shipped int8 variant). No full
net is shipped, so a freshly initialised one is exported and quantised the same way (calibrated on the shared
content photos; its PSNR is meaningless untrained, its speed is not).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from untrained_net import export_untrained

from impasto.export.cli import default_content_dir
from impasto.export.precision import to_int8, variant_path
from impasto.export.training.content_crops import list_images
from impasto.export.training.trainer import HELD_OUT
from impasto.runtime.cli.main import main as impasto


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["240x320", "480x640", "720x1280"])
    parser.add_argument("--runs", default="30")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/bench_cpu"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "untrained-full.onnx"
        export_untrained("full", full)
        int8 = variant_path(full, "int8")
        int8.write_bytes(to_int8(full, list_images(default_content_dir(), list(HELD_OUT))).SerializeToString())
        return impasto([
            "bench", "great-wave", str(full), str(int8), "--precision", "fp32", "int8",
            "--sizes", *args.sizes, "--runs", args.runs, "--warmup", "5", "--providers", "cpu",
            "-o", f"{args.out}.json", "--plot", f"{args.out}.png",
        ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
