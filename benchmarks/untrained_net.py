"""Export a freshly initialised transformer net (fp32 + fp16): speed does not depend on the weights, and no full
net is shipped, so the benchmarks time this one.

    python benchmarks/untrained_net.py full /tmp/untrained-full.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from impasto.export.training.transformer import ARCHITECTURES, build
from impasto.export.training.transformer_export import export_transformer


def export_untrained(architecture: str, path: Path) -> list[Path]:
    torch.manual_seed(0)
    name = f"untrained-{architecture}"
    return export_transformer(build(architecture), path, {"name": name, "style": "none (freshly initialised)"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("architecture", choices=tuple(ARCHITECTURES))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    for path in export_untrained(args.architecture, args.path):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
