"""PyTorch eager timing of a transformer net, for ``impasto bench`` to compare onnxruntime with in the same run.

The bench (runtime, torch-free) runs this module in a child process, so torch is never imported by the runtime:

    python -m impasto.export.torch_baseline NET.onnx --sizes 480x640 --runs 20 --warmup 3 --device cpu

The net is rebuilt from the ONNX file itself: its architecture from the metadata, its weights from the initializers
(named after the PyTorch module's state dict; the exporter merges identical tensors, such as a fresh net's instance
norm scales, so a missing one keeps its initial value), and the two are checked to agree on one frame. Prints one JSON
object per size on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import onnx
import torch
from onnx import numpy_helper

from impasto.export.transformer import Architecture, TransformerNet

WEIGHT_PREFIX = "net."  # ClampedNet wraps the TransformerNet as .net


def load_net(path: str) -> TransformerNet:
    model = onnx.load(path)
    meta = {prop.key: prop.value for prop in model.metadata_props}
    spec = json.loads(meta["impasto.architecture"])
    net = TransformerNet(Architecture(**{**spec, "channels": tuple(spec["channels"])}))
    state = {
        init.name.removeprefix(WEIGHT_PREFIX): torch.from_numpy(numpy_helper.to_array(init).copy())
        for init in model.graph.initializer
        if init.name.startswith(WEIGHT_PREFIX)
    }
    unexpected = net.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise KeyError(f"weights the architecture does not have: {', '.join(unexpected[:3])}")
    return net.eval()


def max_difference(net: TransformerNet, path: str) -> float:
    """Largest |PyTorch − onnxruntime| on one random frame: proof that the baseline is the same net."""
    import numpy as np
    import onnxruntime as ort

    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 64, 80)).astype(np.float32)
    with torch.inference_mode():
        expected = net(torch.from_numpy(frame)).clamp(0, 255).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": frame})[0]
    return float(np.abs(expected - got).max())


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_net(net: TransformerNet, size: tuple[int, int], runs: int, warmup: int, device: str, half: bool) -> dict:
    frame = torch.rand(1, 3, *size, device=device) * 255
    if half:
        net, frame = net.half(), frame.half()

    def step() -> None:
        with torch.inference_mode():
            net(frame).clamp(0, 255)
        _sync(device)

    began = time.perf_counter()
    step()
    first = (time.perf_counter() - began) * 1000
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        step()
        times.append((time.perf_counter() - began) * 1000)
    return {"height": size[0], "width": size[1], "first_run_ms": first, "times_ms": times}


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
    try:
        net = load_net(args.model)
        difference = max_difference(net, args.model)
        if difference > 0.5:
            raise RuntimeError(f"PyTorch and onnxruntime differ by {difference:.3g} levels: not the same net")
        net = net.to(args.device)
    except (KeyError, RuntimeError, TypeError, json.JSONDecodeError) as error:
        reason = " ".join(str(error).split())
        print(json.dumps({"error": f"cannot rebuild the net in PyTorch: {reason}"[:300]}))
        return 0
    label = f"{torch.__version__}, {args.device}" + (
        f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""
    )
    for text in args.sizes:
        height, width = (int(part) for part in text.split("x"))
        row = time_net(net, (height, width), args.runs, args.warmup, args.device, args.half)
        print(json.dumps({**row, "torch": label, "half": args.half, "max_abs_diff": difference}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
