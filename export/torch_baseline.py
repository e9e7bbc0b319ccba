"""PyTorch eager timing of a transformer net or a Gatys loss graph, for ``impasto bench`` to compare with.

The bench (runtime, torch-free) runs this module in a child process, so torch is never imported by the runtime:

    python -m impasto.export.torch_baseline NET.onnx --sizes 480x640 --runs 20 --warmup 3 --device cpu

A transformer net is rebuilt from the ONNX file itself: its architecture from the metadata, its weights from the
initializers (named after the PyTorch module's state dict; the exporter merges identical tensors, such as a fresh
net's instance norm scales, so a missing one keeps its initial value). A loss graph's PyTorch counterpart is the
export side's ``StyleTransferLoss`` with the graph's layers and pooling and the VGG16 weights found here, timed as
loss plus autograd gradient. Either is checked to agree with onnxruntime on one input before it is timed. Prints
one JSON object per size on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import onnx
import torch

from impasto.export.training.base_net import net_weights
from impasto.export.training.transformer import Architecture, ClampedNet, TransformerNet
from impasto.runtime.bench.runner import time_steps
from impasto.runtime.core.registry import onnx_metadata


def load_net(path: str) -> TransformerNet:
    model = onnx.load(path)
    meta = onnx_metadata(path)
    spec = json.loads(meta["impasto.architecture"])
    net = TransformerNet(Architecture(**{**spec, "channels": tuple(spec["channels"])}))
    unexpected = net.load_state_dict(net_weights(model), strict=False).unexpected_keys
    if unexpected:
        raise KeyError(f"weights the architecture does not have: {', '.join(unexpected[:3])}")
    return net.eval()


def even_blend(net: TransformerNet | ClampedNet, device: str = "cpu") -> torch.Tensor | None:
    """[1, N] style weights blending a net of N styles evenly (what the bench feeds onnxruntime); None for one."""
    styles = getattr(net, "net", net).architecture.styles
    return torch.full((1, styles), 1.0 / styles, device=device) if styles else None


def max_difference(net: TransformerNet, path: str) -> float:
    """Largest |PyTorch − onnxruntime| on one random frame: proof that the baseline is the same net."""
    import numpy as np
    import onnxruntime as ort

    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 64, 80)).astype(np.float32)
    weights = even_blend(net)
    with torch.inference_mode():
        expected = ClampedNet(net, border_of(path))(torch.from_numpy(frame), weights).numpy()
    feeds = {"image": frame} if weights is None else {"image": frame, "style_weights": weights.numpy()}
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    return float(np.abs(expected - got).max())


class LossBaseline:
    """The loss graph's computation in PyTorch: one step is the loss and its gradient with respect to the image."""

    def __init__(self, path: str) -> None:
        from impasto.export.lossgraph.losses import StyleTransferLoss
        from impasto.export.lossgraph.vgg import VGGFeatures
        from impasto.export.lossgraph.weights import resolve_vgg16_weights
        from impasto.runtime.gatys.loss_model import GatysLossModel

        self.onnx = GatysLossModel(path)
        weights = resolve_vgg16_weights(allow_download=False)
        layers = self.onnx.content_layers + self.onnx.style_layers
        vgg = VGGFeatures(weights.convs, weights.preprocess, layers, self.onnx.pooling)
        self.loss = StyleTransferLoss(vgg, self.onnx.content_layers, self.onnx.style_layers)
        self.source = weights.source

    def inputs(self, size: tuple[int, int], device: str) -> tuple[torch.Tensor, tuple, dict]:
        """A random image, targets of another random image (from the onnxruntime features graph), the weights."""
        import numpy as np

        rng = np.random.default_rng(0)
        image = rng.uniform(0, 255, (1, 3, *size)).astype(np.float32)
        targets = self.onnx.targets(rng.uniform(0, 255, (*size, 3)).astype(np.float32))
        weights = self.onnx.weights()
        feeds = {"image": image, **targets, **weights.feeds()}
        tensors = [
            tuple(torch.from_numpy(targets[f"content_target_{n}"]).to(device) for n in self.onnx.content_layers),
            tuple(torch.from_numpy(targets[f"style_target_{n}"]).to(device) for n in self.onnx.style_layers),
            *(torch.tensor(v, device=device) for v in (weights.content, weights.style, weights.tv)),
            *(torch.tensor(v, device=device) for v in (weights.content_layers, weights.style_layers)),
        ]
        return torch.from_numpy(image).to(device), tuple(tensors), feeds

    def difference(self) -> float:
        """Relative difference of the loss, PyTorch against onnxruntime, on one 64×64 input."""
        image, tensors, feeds = self.inputs((64, 64), "cpu")
        expected = float(self.loss(image, *tensors)[0])
        got = float(self.onnx.loss_session.run(["loss"], feeds)[0])
        return abs(got - expected) / max(abs(expected), 1e-12)

    def step(self, size: tuple[int, int], device: str):
        self.loss.to(device)
        image, tensors, _ = self.inputs(size, device)

        def run() -> None:
            x = image.detach().requires_grad_(True)
            self.loss(x, *tensors)[0].backward()
            _sync(device)

        return run


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def border_of(path: str) -> int:
    """The reflection border the exported graph adds (0 for nets exported before it existed)."""
    return int(onnx_metadata(path).get("impasto.border", "0"))


def net_step(net: ClampedNet, size: tuple[int, int], device: str, half: bool):
    frame = torch.rand(1, 3, *size, device=device) * 255
    weights = even_blend(net, device)
    if half:
        net, frame = net.half(), frame.half()
        weights = None if weights is None else weights.half()

    def step() -> None:
        with torch.inference_mode():
            net(frame, weights)
        _sync(device)

    return step


def time_step(step, size: tuple[int, int], runs: int, warmup: int) -> dict:
    """The bench's own timing loop, so both engines are timed the same way."""
    first, times = time_steps(step, runs, warmup)
    return {"height": size[0], "width": size[1], "first_run_ms": first, "times_ms": times}


@dataclass
class Steps:
    make: Callable[[tuple[int, int]], Callable[[], None]]  # size → one timed step
    difference: float  # against onnxruntime: largest level difference for a net, relative loss for a loss graph


def _steps(path: str, kind: str | None, device: str, half: bool) -> Steps:
    """The PyTorch counterpart of the file, checked against onnxruntime before it is timed."""
    if kind == "gatys-loss":
        loss = LossBaseline(path)
        difference = loss.difference()
        if difference > 1e-3:
            raise RuntimeError(f"losses differ by {difference:.2g} (relative): other VGG16 weights ({loss.source})?")
        return Steps(lambda size: loss.step(size, device), difference)
    net = load_net(path)
    difference = max_difference(net, path)
    if difference > 0.5:
        raise RuntimeError(f"PyTorch and onnxruntime differ by {difference:.3g} levels: not the same net")
    clamped = ClampedNet(net, border_of(path)).to(device)  # what the ONNX file computes, border and clamp included
    return Steps(lambda size: net_step(clamped, size, device, half), difference)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--sizes", nargs="+", required=True, help="HxW")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--half", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA GPU"}))
        return 0
    metadata = onnx_metadata(args.model)
    try:
        steps = _steps(args.model, metadata.get("impasto.kind"), args.device, args.half)
    except Exception as error:  # noqa: BLE001 — reported as the baseline's rows; the bench goes on
        reason = " ".join(str(error).split())
        print(json.dumps({"error": f"cannot rebuild the model in PyTorch: {reason}"[:300]}))
        return 0
    label = f"{torch.__version__}, {args.device}" + (
        f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""
    )
    for text in args.sizes:
        size = tuple(int(part) for part in text.split("x"))
        row = time_step(steps.make(size), size, args.runs, args.warmup)
        print(json.dumps({**row, "torch": label, "half": args.half, "max_abs_diff": steps.difference}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
