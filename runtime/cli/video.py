"""``impasto video``: a video file stylised frame by frame, optionally with temporal blending."""

from __future__ import annotations

import argparse
import sys

from impasto.runtime.cli.args import add_model_options, add_strength, image_size, non_negative


def blend_strength(text: str) -> float:
    """A temporal blend weight in [0, 1)."""
    value = non_negative(text)
    if value >= 1:
        raise argparse.ArgumentTypeError("must be below 1")
    return value


BLEND_WHEN_GIVEN = 0.6


def add_blend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blend", type=blend_strength, nargs="?", const=BLEND_WHEN_GIVEN, default=0.0,
        help=f"temporal smoothing: blend in the flow-warped previous frame (0–1; {BLEND_WHEN_GIVEN} when given "
        "without a value)",
    )  # fmt: skip


def add_video(commands) -> None:
    parser = commands.add_parser(
        "video",
        help="stylise a video file",
        description="Stylise every frame of a video FFmpeg can read. The output keeps its size, frame timings, "
        "orientation and audio (copied, not re-encoded): H.264 in .mp4/.m4v/.mov/.mkv, Motion JPEG in .avi, or a "
        ".gif (which holds no sound).",
    )
    parser.add_argument("input", help="video file")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4, .m4v, .mov, .mkv, .avi, .gif)")
    parser.add_argument("--size", type=image_size, help="N (long side) or HxW the net sees (default: the video's own)")
    parser.add_argument("--preserve-color", action="store_true", help="keep the input's colours")
    add_strength(parser)
    add_blend(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(parser)
    parser.set_defaults(run=run_video)


def run_video(args: argparse.Namespace) -> int:
    from impasto.runtime.cli.args import session_config
    from impasto.runtime.nets.stylizer import Stylizer
    from impasto.runtime.nets.video import check_video_job, stylize_video

    for warning in check_video_job(args.input, args.output):  # every check before the model is loaded
        print(f"impasto: warning: {warning}", file=sys.stderr)
    stylizer = Stylizer(args.model, session_config(args), args.precision)
    stream = stylizer.stream(args.size, args.preserve_color, args.blend, args.strength)
    result = stylize_video(stylizer, args.input, args.output, stream, quiet=args.quiet)
    copied = result.audio_streams
    audio = f", {copied} audio stream{'s' if copied > 1 else ''} copied" if copied else ""
    timing = f"{result.frames} frames at {result.fps:g} FPS{audio}; stylised at {result.speed:.1f} FPS"
    print(f"wrote {args.output} ({timing})")
    return 0
