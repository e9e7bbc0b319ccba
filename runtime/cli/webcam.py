"""``impasto webcam``: live stylisation of a camera (or a video file standing in for one)."""

from __future__ import annotations

import argparse
import sys

from impasto.runtime.cli.args import (
    add_model_options,
    add_strength,
    default,
    image_size,
    positive_int,
    session_config,
)
from impasto.runtime.cli.video import add_blend
from impasto.runtime.nets.webcam import WebcamSettings


def add_webcam(commands) -> None:
    parser = commands.add_parser(
        "webcam",
        help="live stylisation of a camera (or a video file standing in for one)",
        description="Capture, stylise and show frames in a pipeline of threads. Keys: m next model, s next size, "
        "b temporal blend on/off, q or Esc quit.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    source.add_argument("--source", help="a video file instead of a camera")
    size = default(WebcamSettings, "size")
    parser.add_argument("--size", type=image_size, default=size, help=f"N (long side) or HxW the net sees ({size})")
    parser.add_argument("--preserve-color", action="store_true", help="keep the input's colours")
    add_strength(parser)
    add_blend(parser)
    parser.add_argument("--no-window", action="store_true", help="run without a window (headless)")
    parser.add_argument("-o", "--output", "--record", dest="output", help="also write the stylised frames to a video")
    parser.add_argument("--frames", type=positive_int, help="stop after this many frames")
    add_model_options(parser, many=True)
    parser.set_defaults(run=run_webcam_command)


def run_webcam_command(args: argparse.Namespace) -> int:
    from impasto.runtime.core.registry import TRANSFORMER, default_name
    from impasto.runtime.nets.webcam import run_webcam

    settings = WebcamSettings(
        models=args.model or [default_name(TRANSFORMER)], size=args.size, blend=args.blend,
        preserve_color=args.preserve_color, strength=args.strength, session=session_config(args),
        precision=args.precision, window=not args.no_window, record=args.output, max_frames=args.frames,
    )  # fmt: skip
    stats = run_webcam(args.source if args.source else args.camera, settings)
    mean = sum(stats.stylize_seconds) / len(stats.stylize_seconds) if stats.stylize_seconds else 0.0
    print(
        f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} FPS; stylising {mean * 1000:.0f} ms a frame; "
        f"{stats.dropped} camera frames dropped)",
        file=sys.stderr,
    )
    if args.output:
        print(f"wrote {args.output}")
    return 0
