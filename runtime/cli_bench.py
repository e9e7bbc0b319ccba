"""``impasto bench``: the command line of the latency benchmark (runtime/bench.py does the measuring)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from impasto.runtime.cli_args import add_session_options, image_shape, positive_int, session_config
from impasto.runtime.errors import ImpastoError

DEFAULT_SIZES = ((240, 320), (480, 640), (720, 1280))


def add_bench(commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="latency across models, sizes, providers and precisions",
        description="Time each model (shipped name or .onnx file; default: the first shipped transformer net) at "
        "each size on each provider (default: every one onnxruntime has here) and precision variant: session "
        "start and first run, then WARMUP untimed and RUNS timed runs. Prints a table, writes JSON and a PNG plot, "
        "lists nodes that fall back from a GPU provider to the CPU, and times PyTorch eager on the same nets "
        "when torch is installed. Modes: host = numpy in and out, copies included; iobinding = tensors kept on "
        "the device (GPU providers); cudagraph = iobinding replaying a CUDA graph (CUDA).",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="shipped model names or .onnx files")
    parser.add_argument(
        "--sizes", nargs="+", type=image_shape, metavar="HxW", default=list(DEFAULT_SIZES),
        help="image sizes as height x width (default 240x320 480x640 720x1280)",
    )  # fmt: skip
    parser.add_argument(
        "--providers", nargs="+", metavar="PROVIDER", help="cpu, cuda, tensorrt, openvino (default: all available)"
    )
    parser.add_argument("--precision", nargs="+", choices=("fp32", "fp16", "int8"), help="default: every variant")
    parser.add_argument(
        "--modes", nargs="+", choices=("host", "iobinding", "cudagraph"), default=["host", "iobinding"],
        help="ways of feeding GPU providers (default host iobinding; the CPU always runs host)",
    )  # fmt: skip
    parser.add_argument("--runs", type=positive_int, default=20, help="timed runs per configuration (default 20)")
    parser.add_argument("--warmup", type=positive_int, default=3, help="untimed runs after the first (default 3)")
    parser.add_argument("--no-pytorch", action="store_true", help="skip the PyTorch eager baseline")
    parser.add_argument("--json", type=Path, default=Path("bench.json"), help="results file (default bench.json)")
    parser.add_argument("--plot", type=Path, default=Path("bench.png"), help="latency plot (default bench.png)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_session_options(parser, providers=False, cuda_graph=False)
    parser.set_defaults(run=_run_bench)


def _check_outputs(args: argparse.Namespace) -> None:
    from impasto.runtime.images import check_output_path

    check_output_path(args.json, (".json",), "--json")
    check_output_path(args.plot, (".png",), "--plot")


def _run_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from impasto.runtime.bench import BenchSpec, baseline_jobs, plan, pytorch_baseline, run_bench, torch_available
    from impasto.runtime.bench_report import add_ratios, fallbacks, plot, table, write_json
    from impasto.runtime.machine import describe, peak_gflops
    from impasto.runtime.transformer_model import default_transformer

    _check_outputs(args)
    spec = BenchSpec(
        models=args.models or [default_transformer()], sizes=list(args.sizes), providers=args.providers,
        precisions=args.precision, modes=args.modes, runs=args.runs, warmup=args.warmup,
        session=session_config(args, provider="cpu"),
    )  # fmt: skip
    bench_plan = plan(spec)
    for note in bench_plan.notes:
        print(f"impasto bench: {note}", file=sys.stderr)
    if not bench_plan.targets or not bench_plan.providers:
        raise ImpastoError("nothing to benchmark: " + ("no usable model" if not bench_plan.targets else "no provider"))
    results = []
    total = len(bench_plan.targets) * len(spec.sizes) * len(bench_plan.providers)
    quiet = args.quiet or not sys.stderr.isatty()
    with tqdm(total=total, desc="bench", unit="config", disable=quiet, leave=False) as bar:
        for result in run_bench(spec, bench_plan):
            results.append(result)
            bar.set_postfix_str(f"{result.model} {result.precision} {result.provider} {result.mode}")
            if result.mode == "host":
                bar.update()
    if not args.no_pytorch and torch_available():
        for label, fp32, half, device in baseline_jobs(bench_plan.targets, bench_plan.providers):
            results += pytorch_baseline(label, fp32, half, spec.sizes, spec.runs, spec.warmup, device, args.threads)
    elif not args.no_pytorch:
        bench_plan.notes.append("PyTorch baseline: torch is not installed here (pip install 'impasto[export]')")
    counted = {(r.model, r.size): r.gmac for r in results if r.gmac}
    for result in results:  # PyTorch runs the same convolutions: the same count, compared with the same peak
        if result.provider.startswith("pytorch-") and result.gmac is None:
            result.gmac = counted.get((result.model, result.size))
            result.peak_gflops = peak_gflops(result.provider.removeprefix("pytorch-"), result.precision)
    rows = [result.summary() for result in results]
    add_ratios(rows)
    if all("error" in row for row in rows if not row["provider"].startswith("pytorch")):
        print(table(rows))
        raise ImpastoError("every configuration failed (see the table above)")
    print(table(rows))
    for line in fallbacks(rows):
        print(f"fallback: {line}")
    for note in bench_plan.notes:
        print(f"note: {note}")
    machine = describe()
    settings = {
        "sizes": [f"{h}x{w}" for h, w in spec.sizes], "runs": spec.runs, "warmup": spec.warmup, "modes": spec.modes,
        "threads": args.threads, "graph_optimization": args.graph_opt, "cudnn_conv_algo_search": args.cudnn_algo,
    }  # fmt: skip
    document = {
        "tool": "impasto bench",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "settings": settings,
        "notes": bench_plan.notes,
        "results": rows,
    }
    write_json(args.json, document)
    gpu = machine["gpu"]["name"] if machine["gpu"] else "no GPU"
    title = f"{machine['cpu']['name']} ({machine['cpu']['cores']} cores), {gpu}; onnxruntime {machine['onnxruntime']}"
    plot(args.plot, rows, title)
    print(f"wrote {args.json} and {args.plot}")
    return 0
