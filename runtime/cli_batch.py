"""``impasto batch``: the command line of the Ray Data batch stylisation (runtime/batch.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.runtime.cli_args import add_session_options, positive_int, session_config


def add_batch(commands) -> None:
    parser = commands.add_parser(
        "batch",
        help="stylise a folder on Ray (local, or a cluster with --address); reruns skip finished images",
        description="Stylise every image in IN_DIR into OUT_DIR (named as `impasto stylize` names them) with a pool "
        "of Ray actors, each holding an onnxruntime session: one per GPU where there are GPUs, else one per two "
        "cores. Outputs that exist are skipped, so an interrupted run resumes.",
    )
    parser.add_argument("inputs", type=Path, metavar="IN_DIR")
    parser.add_argument("outputs", type=Path, metavar="OUT_DIR")
    parser.add_argument("--model", help="shipped net name or .onnx file (default: the first shipped net)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    parser.add_argument("--size", type=positive_int, help="long side of the results (default: each input's own)")
    parser.add_argument("--preserve-color", action="store_true")
    parser.add_argument("--actors", type=positive_int, help="actor pool size (default: GPUs, else cores / 2)")
    parser.add_argument("--batch-size", type=positive_int, default=4, help="images per actor call (default 4)")
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_session_options(parser, cuda_graph=False)
    parser.set_defaults(run=_run_batch)


def _run_batch(args: argparse.Namespace) -> int:
    from impasto.runtime.batch import BatchSettings, run_batch
    from impasto.runtime.transformer_model import default_transformer

    settings = BatchSettings(
        model=args.model or default_transformer(), size=args.size, preserve_color=args.preserve_color,
        actors=args.actors, batch_size=args.batch_size, address=args.address, session=session_config(args),
        precision=args.precision,
    )  # fmt: skip
    report = run_batch(args.inputs, args.outputs, settings, quiet=args.quiet)
    print(
        f"{report.done} stylised, {report.skipped} already done, of {report.total}, into {args.outputs} "
        f"({report.images_per_second:.2f} images/s; {report.seconds - report.processing_seconds:.1f} s of it starting "
        "Ray)"
    )
    return 0
