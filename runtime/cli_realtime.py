"""``impasto stylize``, ``impasto video`` and ``impasto webcam``: the trained transformer nets, without PyTorch."""

from __future__ import annotations

import argparse
import sys

from impasto.runtime.cli_args import add_session_options, non_negative, positive_int, session_config
from impasto.runtime.errors import ImpastoError

DEFAULT_PHOTO = "images/chelsea.png"
PRECISIONS = ("fp32", "fp16", "int8")


def _model_options(parser: argparse.ArgumentParser, many: bool = False) -> None:
    help_text = "shipped model name or .onnx file (default: the first shipped transformer net; see `impasto models`)"
    if many:
        parser.add_argument("--model", action="append", help=help_text + "; repeat to switch between them with m")
    else:
        parser.add_argument("--model", help=help_text)
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="which shipped variant to run: fp16 for GPUs, int8 for CPUs (default fp32)",
    )  # fmt: skip
    parser.add_argument("--preserve-color", action="store_true", help="keep the input's colours (luminance only)")
    add_session_options(parser)


def _blend(text: str) -> float:
    value = non_negative(text)
    if value >= 1:
        raise argparse.ArgumentTypeError("must be below 1")
    return value


def add_stylize(commands) -> None:
    parser = commands.add_parser(
        "stylize",
        help="stylise photos with a trained transformer net",
        description="Stylise image files and folders of images in one pass each. Large images are done in "
        "overlapping tiles, blended without seams. Without INPUT it stylises the shipped sample photo.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    parser.add_argument(
        "--output", "-o", default="stylized", help="output folder, or a file name for one input (default %(default)s/)"
    )
    parser.add_argument("--size", type=positive_int, help="long side of the result (default: each input's own)")
    parser.add_argument("--batch-size", type=positive_int, default=4, help="images of one size per run (default 4)")
    parser.add_argument("--tile", type=positive_int, default=1024, help="tile side for large images (default 1024)")
    parser.add_argument("--overlap", type=positive_int, default=128, help="tile overlap in px (default 128)")
    parser.add_argument(
        "--stats-side", type=positive_int,
        help="long side of the copy whose normalisation statistics the tiles share (default: --tile; larger is "
        "closer to an untiled result and needs more memory)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_options(parser)
    parser.set_defaults(run=_run_stylize)


def _run_stylize(args: argparse.Namespace) -> int:
    from impasto.runtime.manifest import shipped_models_dir
    from impasto.runtime.stylize import StylizeSettings, collect_inputs, plan_outputs, stylize_files
    from impasto.runtime.transformer_model import TransformerModel, default_transformer

    if args.overlap * 2 > args.tile:
        raise ImpastoError(f"--overlap {args.overlap} must be at most half of --tile {args.tile}")
    inputs = collect_inputs(args.inputs or [shipped_models_dir() / DEFAULT_PHOTO])
    model = TransformerModel(args.model or default_transformer(), session_config(args), args.precision)
    outputs = plan_outputs(inputs, args.output, model.name)
    settings = StylizeSettings(
        args.size, args.preserve_color, args.batch_size, args.tile, args.overlap, args.stats_side
    )
    stylize_files(model, inputs, outputs, settings, quiet=args.quiet)
    for path in outputs:
        print(f"wrote {path}")
    return 0


def add_video(commands) -> None:
    parser = commands.add_parser(
        "video",
        help="stylise a video file",
        description="Stylise every frame of a video OpenCV can read; the output keeps its frame rate and size.",
    )
    parser.add_argument("input", help="video file")
    parser.add_argument("output", help="output video (.mp4, .avi, .mkv, .mov, .m4v)")
    parser.add_argument("--size", type=positive_int, help="long side the net sees (default: the video's own)")
    parser.add_argument(
        "--blend", type=_blend, nargs="?", const=0.6, default=0.0,
        help="temporal smoothing: blend in the flow-warped previous frame (0–1; 0.6 when given without a value)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_options(parser)
    parser.set_defaults(run=_run_video)


def _run_video(args: argparse.Namespace) -> int:
    from impasto.runtime.transformer_model import TransformerModel, default_transformer
    from impasto.runtime.video import FrameStylizer, stylize_video
    from impasto.runtime.video_io import check_video_output

    check_video_output(args.output)
    model = TransformerModel(args.model or default_transformer(), session_config(args), args.precision)
    stylizer = FrameStylizer(model, args.size, args.preserve_color, args.blend)
    result = stylize_video(model, args.input, args.output, stylizer, quiet=args.quiet)
    speed = result.frames / result.seconds if result.seconds else 0.0
    print(f"wrote {args.output} ({result.frames} frames at {result.fps:g} FPS; stylised at {speed:.1f} FPS)")
    return 0


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
    parser.add_argument("--size", type=positive_int, default=360, help="long side the net sees (default 360)")
    parser.add_argument("--blend", type=_blend, nargs="?", const=0.6, default=0.0, help="temporal smoothing (0–1)")
    parser.add_argument("--no-window", action="store_true", help="run without a window (headless)")
    parser.add_argument("--record", help="also write the stylised frames to this video file")
    parser.add_argument("--frames", type=positive_int, help="stop after this many frames")
    _model_options(parser, many=True)
    parser.set_defaults(run=_run_webcam)


def _run_webcam(args: argparse.Namespace) -> int:
    from impasto.runtime.transformer_model import default_transformer
    from impasto.runtime.webcam import WebcamSettings, run_webcam

    settings = WebcamSettings(
        models=args.model or [default_transformer()], size=args.size, blend=args.blend,
        preserve_color=args.preserve_color, session=session_config(args), precision=args.precision,
        window=not args.no_window, record=args.record, max_frames=args.frames,
    )  # fmt: skip
    stats = run_webcam(args.source if args.source else args.camera, settings)
    mean = sum(stats.stylize_seconds) / len(stats.stylize_seconds) if stats.stylize_seconds else 0.0
    print(
        f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} FPS; stylising {mean * 1000:.0f} ms a frame; "
        f"{stats.dropped} camera frames dropped)",
        file=sys.stderr,
    )
    if args.record:
        print(f"wrote {args.record}")
    return 0
