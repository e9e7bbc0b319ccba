"""Peak memory (resident set) of a 1024-px optimisation on the CPU: the runtime vs a PyTorch reference.

    python benchmarks/peak_memory.py --size 1024 --iters 4

Each measurement runs in a fresh process that reports its own peak RSS (getrusage), so nothing is shared:
- runtime: ``impasto optimize`` as users run it (coarse to fine, 512 then 1024 px, L-BFGS-B);
- pytorch: the same loss and the same scipy L-BFGS-B at the final size, gradients from torch autograd.
Memory does not grow with iterations, so a few iterations measure the peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PYTORCH_REFERENCE = """
import resource, sys
import numpy as np, torch
from impasto.export.lossgraph.losses import StyleTransferLoss
from impasto.export.lossgraph.vgg import VGGFeatures
from impasto.export.lossgraph.weights import resolve_vgg16_weights
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.gatys.loss_model import to_nchw
from impasto.runtime.gatys.optimize import run_lbfgs
from impasto.runtime.core.registry import shipped_models_dir
from impasto.export.lossgraph.losses import FeatureTargets
size, iters = int(sys.argv[1]), int(sys.argv[2])
weights = resolve_vgg16_weights(allow_download=False)
content_layers, style_layers = ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
vgg = VGGFeatures(weights.convs, weights.preprocess, content_layers + style_layers, "avg")
images = shipped_models_dir() / "images"
content = torch.from_numpy(to_nchw(resize_long_side(read_image(images / "rocket.jpg"), size)))
style = torch.from_numpy(to_nchw(resize_long_side(read_image(images / "starry-night.jpg"), size)))
with torch.no_grad():
    targets = FeatureTargets(vgg, content_layers, style_layers)
    c, s = targets(content)[:1], targets(style)[1:]
loss = StyleTransferLoss(vgg, content_layers, style_layers)
scalars = [torch.tensor(1.0), torch.tensor(1e4), torch.tensor(1e-3), torch.ones(1), torch.full((5,), 0.2)]
class Evaluation:
    def __init__(self, x):
        image = torch.from_numpy(x).requires_grad_(True)
        total = loss(image, c, s, *scalars)[0]
        total.backward()
        self.loss, self.grad = float(total.detach()), image.grad.numpy()
run_lbfgs(Evaluation, content.numpy(), iters, lambda e: None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

RUNTIME = """
import resource, sys
from impasto.runtime.cli.main import main
code = main(sys.argv[1:])
assert code == 0, code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_mib(script: str, *args: str) -> float:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        output = str(Path(folder) / "out.png")
        images = Path(__file__).resolve().parents[1] / "models" / "images"
        runtime = _peak_mib(
            RUNTIME, "optimize", "--content", str(images / "rocket.jpg"), "--style", str(images / "starry-night.jpg"),
            "--size", str(args.size), "--iters", str(args.iters), "-o", output, "--quiet",
        )  # fmt: skip
    reference = _peak_mib(PYTORCH_REFERENCE, str(args.size), str(max(1, args.iters // 2)))
    report = {"size": args.size, "runtime_peak_mib": round(runtime), "pytorch_peak_mib": round(reference)}
    print(f"{args.size} px optimisation, peak RSS: runtime {runtime:.0f} MiB, PyTorch reference {reference:.0f} MiB "
          f"(PyTorch/runtime = {reference / runtime:.2f})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
