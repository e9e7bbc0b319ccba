"""Seconds per loss+gradient evaluation: onnxruntime (the shipped graph) vs PyTorch autograd, same machine, same run.

    python benchmarks/loss_grad.py --sizes 256 512 1024 --json benchmarks/loss_grad.json

Both sides compute the same thing: VGG16 (avg pooling) content+style+TV loss and d loss / d image on a shipped
photo at each long side, with the offline ImageNet weights, float32, on all cores. Blocks run one after the other
with a pause between (not interleaved: each engine's spinning threads would slow the other). Prints the
PyTorch/onnxruntime ratio (> 1: onnxruntime is faster) for the runtime's default session and the variants tried,
and records the processor and its vector features (which decide the kernels both engines pick).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from impasto.export.lossgraph.losses import StyleTransferLoss
from impasto.export.lossgraph.vgg import VGGFeatures
from impasto.export.lossgraph.weights import resolve_vgg16_weights
from impasto.runtime.core.machine import cpu_description
from impasto.runtime.core.registry import shipped_models_dir
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.core.sessions import session_options
from impasto.runtime.gatys.loss_model import GatysLossModel, blend_targets, to_nchw
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize_long_side

RUNS = {256: 7, 512: 5, 1024: 3}
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "amx_tile", "amx_bf16")  # fmt: skip


def _processor() -> dict:
    """Name, cores and the vector features that decide which kernels both engines pick (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    flags = set(line.partition(":")[2].split())
    cpu = cpu_description()
    return {
        "name": cpu["name"],
        "microarchitecture": cpu["microarchitecture"],
        "cores": cpu["cores"],
        "mhz": cpu["mhz"],
        "vector_flags": [flag for flag in VECTOR_FLAGS if flag in flags],
    }


def _median_seconds(step, runs: int) -> float:
    time.sleep(2.0)  # let the previous block's spinning worker threads (OpenMP, onnxruntime) go idle
    step()  # warm-up: first run allocates and picks kernels
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _torch_step(loss: StyleTransferLoss, image: np.ndarray, inputs: tuple) -> None:
    x = torch.from_numpy(image).requires_grad_(True)
    loss(x, *inputs)[0].backward()


def _variants(threads: int) -> dict[str, ort.SessionOptions]:
    """Session variants tried besides the runtime's default (which is timed through GatysLossModel itself)."""
    variants = {"arena off (before issue 14)": session_options(SessionConfig(threads=threads, memory_arena=False))}
    no_spin = session_options(SessionConfig(threads=threads))
    no_spin.add_session_config_entry("session.intra_op.allow_spinning", "0")
    variants["no thread spinning"] = no_spin
    for name, level in (("EXTENDED", ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
                        ("BASIC", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)):  # fmt: skip
        options = session_options(SessionConfig(threads=threads))
        options.graph_optimization_level = level
        variants[f"optimisation level {name}"] = options
    if threads > 1:
        variants["1 thread"] = session_options(SessionConfig(threads=1))
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--variants", action="store_true", help="also time the session variants tried")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="PNG: seconds per evaluation by size, one line per engine/variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = GatysLossModel("vgg16-avg", SessionConfig(threads=args.threads))
    weights = resolve_vgg16_weights(allow_download=False)
    vgg = VGGFeatures(weights.convs, weights.preprocess, model.content_layers + model.style_layers, model.pooling)
    torch_loss = StyleTransferLoss(vgg, model.content_layers, model.style_layers)
    images = shipped_models_dir() / "images"
    content, style = read_image(images / "rocket.jpg"), read_image(images / "starry-night.jpg")
    loss_weights = model.weights()
    processor = _processor()
    report = {
        "machine": f"{processor['name']} ({processor['microarchitecture']}), {processor['cores']} cores",
        "processor": processor,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "threads": args.threads,
        "sizes": {},
    }
    print(f"{report['machine']}; vector features {' '.join(processor['vector_flags']) or 'none'}")
    print(f"threads {args.threads}; torch {torch.__version__}; onnxruntime {ort.__version__}")
    for size in args.sizes:
        content_s = resize_long_side(content, size)
        targets = blend_targets(model.targets(content_s), [model.targets(resize_long_side(style, size))], [1.0])
        image = to_nchw(np.clip(content_s + np.random.default_rng(0).normal(0, 20, content_s.shape), 0, 255))
        runs = RUNS.get(size, 3)

        content_t = tuple(torch.from_numpy(targets[f"content_target_{n}"]) for n in model.content_layers)
        style_t = tuple(torch.from_numpy(targets[f"style_target_{n}"]) for n in model.style_layers)
        scalars = [torch.tensor(v) for v in (loss_weights.content, loss_weights.style, loss_weights.tv)]
        layers = [torch.tensor(v) for v in (loss_weights.content_layers, loss_weights.style_layers)]

        torch_step = partial(_torch_step, torch_loss, image, (content_t, style_t, *scalars, *layers))
        seconds = {"pytorch autograd": _median_seconds(torch_step, runs)}
        # the runtime's own evaluation: its session options, arena shrink at the first run of a size included
        seconds["runtime default"] = _median_seconds(partial(model.evaluate, image, targets, loss_weights), runs)
        feeds = {"image": image, **targets, **loss_weights.feeds()}
        variants = _variants(args.threads) if args.variants else {}
        for name, options in variants.items():
            session = ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
            seconds[name] = _median_seconds(partial(session.run, None, feeds), runs)
            del session
        height, width = image.shape[2:]
        report["sizes"][f"{width}x{height}"] = seconds
        print(f"\n{width}×{height} (median of {runs})")
        for name, value in seconds.items():
            print(f"  {name:32s} {value:7.3f} s   PyTorch/this = {seconds['pytorch autograd'] / value:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        _plot(report, args.plot)


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(report["sizes"])
    names = list(report["sizes"][sizes[0]])
    figure, axis = plt.subplots(figsize=(7, 4))
    for name in names:
        style = {"linewidth": 2.5} if name in ("pytorch autograd", "runtime default") else {"linestyle": "--"}
        axis.plot(sizes, [report["sizes"][size][name] for size in sizes], marker="o", label=name, **style)
    axis.set_yscale("log")
    axis.set_xlabel("image size (px)")
    axis.set_ylabel("seconds per loss+gradient (median)")
    axis.set_title(f"VGG16 Gatys loss+gradient, {report['machine']}, {report['threads']} threads", fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
