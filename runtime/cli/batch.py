"""``impasto batch``: the command line of the Ray Data batch stylisation (runtime/deploy/batch.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from impasto.runtime.cli.args import (
    add_json,
    add_max_pixels,
    add_model_options,
    add_strength,
    add_strict,
    default,
    image_size,
    positive_int,
    print_json,
    session_config,
)
from impasto.runtime.deploy.batch import BatchSettings


def add_batch(commands) -> None:
    parser = commands.add_parser(
        "batch",
        help="stylise a folder on Ray (local, or a cluster with --address); reruns skip finished images",
        description="Stylise every image in IN_DIR into the -o folder (named as `impasto stylize` names them) with a "
        "pool of Ray actors, each holding an onnxruntime session: one per GPU where there are GPUs, else one per two "
        "cores. Outputs made earlier with the same net and settings are skipped, so an interrupted run resumes; "
        "other settings redo them. Unreadable inputs are named and the others done (exit 1 at the end).",
    )
    parser.add_argument("inputs", type=Path, metavar="IN_DIR")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR", help="output folder")
    parser.add_argument("--size", type=image_size, help="N (long side) or HxW of the results (default: each input's)")
    parser.add_argument("--preserve-color", action="store_true", default=default(BatchSettings, "preserve_color"))
    add_strength(parser)
    parser.add_argument("--actors", type=positive_int, help="actor pool size (default: GPUs, else cores / 2)")
    size = default(BatchSettings, "batch_size")
    parser.add_argument("--batch-size", type=positive_int, default=size, help=f"images per actor call ({size})")
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    add_max_pixels(parser)
    add_strict(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json(parser)
    add_model_options(parser, cuda_graph=False)
    parser.set_defaults(run=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    from impasto.runtime.core.registry import TRANSFORMER, default_name
    from impasto.runtime.deploy.batch import run_batch

    settings = BatchSettings(
        model=args.model or default_name(TRANSFORMER), size=args.size, preserve_color=args.preserve_color,
        strength=args.strength,
        actors=args.actors, batch_size=args.batch_size, address=args.address, session=session_config(args),
        precision=args.precision, strict=args.strict, max_pixels=args.max_pixels,
    )  # fmt: skip
    report = run_batch(args.inputs, args.output, settings, quiet=args.quiet or args.json)
    if args.json:
        print_json({
            "output": str(args.output), "total": report.total, "done": report.done, "skipped": report.skipped,
            "seconds": round(report.seconds, 3), "images_per_second": round(report.images_per_second, 3),
            "failed": [{"input": source, "error": reason} for source, reason in report.failed],
        })  # fmt: skip
    else:
        print(
            f"{report.done} stylised, {report.skipped} already done, of {report.total}, into {args.output} "
            f"({report.images_per_second:.2f} images/s; {report.seconds - report.processing_seconds:.1f} s of it "
            "starting Ray)"
        )
    if report.failed:
        print(
            f"impasto: error: {len(report.failed)} of {report.total} inputs could not be stylised (named above)",
            file=sys.stderr,
        )
        return 1
    return 0
