"""``impasto bench``: the command line of the latency benchmark (runtime/bench.py does the measuring)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from impasto.runtime.bench.spec import MODES, BenchSpec
from impasto.runtime.cli.args import (
    add_json,
    add_session_options,
    default,
    image_size,
    non_negative_int,
    positive_int,
    print_json,
    session_config,
)
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import PRECISIONS

DEFAULT_SIZES = ((240, 320), (480, 640), (720, 1280))


def frame_size(text: str) -> tuple[int, int]:
    """``HxW``, or ``N``: a 4:3 landscape frame whose long side is N (640 → 480x640)."""
    size = image_size(text)
    return size if isinstance(size, tuple) else (max(1, round(size * 3 / 4)), size)


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
        "--sizes", nargs="+", type=frame_size, metavar="N|HxW", default=list(DEFAULT_SIZES),
        help="image sizes: HxW, or N for a 4:3 frame of long side N (default 240x320 480x640 720x1280)",
    )  # fmt: skip
    parser.add_argument(
        "--providers", nargs="+", metavar="PROVIDER", help="cpu, cuda, tensorrt, openvino (default: all available)"
    )
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, help="default: every variant")
    modes = default(BenchSpec, "modes")
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=modes,
        help=f"ways of feeding GPU providers (default {' '.join(modes)}; the CPU always runs host)",
    )  # fmt: skip
    runs, warmup = default(BenchSpec, "runs"), default(BenchSpec, "warmup")
    parser.add_argument("--runs", type=positive_int, default=runs, help=f"timed runs per configuration ({runs})")
    parser.add_argument(
        "--warmup", type=non_negative_int, default=warmup, help=f"untimed runs after the first ({warmup})"
    )
    parser.add_argument("--no-pytorch", action="store_true", help="skip the PyTorch eager baseline")
    parser.add_argument("-o", "--output", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--plot", type=Path, help="also write a latency plot (PNG) to this file")
    add_json(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_session_options(parser, providers=False, cuda_graph=False)
    parser.set_defaults(run=_run_bench)


def _check_outputs(args: argparse.Namespace) -> None:
    from impasto.runtime.media.paths import check_output_path

    if args.output:
        check_output_path(args.output, (".json",), "--output")
    if args.plot:
        check_output_path(args.plot, (".png",), "--plot")
        if importlib.util.find_spec("matplotlib") is None:  # before any timing, not after it
            raise ImpastoError("--plot needs matplotlib (pip install 'impasto[bench]')")


def _run_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from impasto.runtime.bench.report import add_ratios, fallbacks, plot, table, write_json
    from impasto.runtime.bench.runner import (
        BenchSpec,
        baseline_jobs,
        plan,
        pytorch_baseline,
        run_bench,
        torch_available,
    )
    from impasto.runtime.core.machine import describe, peak_gflops
    from impasto.runtime.core.registry import TRANSFORMER, default_name

    _check_outputs(args)
    spec = BenchSpec(
        models=args.models or [default_name(TRANSFORMER)], sizes=list(args.sizes), providers=args.providers,
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
    failed = all("error" in row for row in rows if not row["provider"].startswith("pytorch"))
    if args.json:
        print_json(document)
    else:
        print(table(rows))
        for line in fallbacks(rows):
            print(f"fallback: {line}")
        for note in bench_plan.notes:
            print(f"note: {note}")
    if failed:
        raise ImpastoError("every configuration failed (see the table above)")
    if args.output:
        write_json(args.output, document)
        print(f"wrote {args.output}", file=sys.stderr if args.json else sys.stdout)
    if args.plot:
        gpu = machine["gpu"]["name"] if machine["gpu"] else "no GPU"
        cpu = machine["cpu"]
        plot(args.plot, rows, f"{cpu['name']} ({cpu['cores']} cores), {gpu}; onnxruntime {machine['onnxruntime']}")
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
