"""``impasto stylize``: image files, folders, or stdin through a transformer net."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from impasto.runtime.cli.args import (
    add_json,
    add_max_pixels,
    add_model_options,
    add_output,
    add_strength,
    add_strict,
    default,
    image_size,
    non_negative_int,
    positive_int,
    print_json,
    session_config,
)
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.paths import STDIO
from impasto.runtime.nets.files import BATCH_SIZE
from impasto.runtime.nets.stylizer import StylizeOptions

DEFAULT_PHOTO = "images/chelsea.png"
EXIT_PARTIAL_FAILURE = 1  # some inputs done, some not: not a usage error (2), not a success
STDOUT_FORMATS = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "webp": ".webp"}


def add_stylize(commands) -> None:
    parser = commands.add_parser(
        "stylize",
        help="stylise photos with a trained transformer net",
        description="Stylise image files and folders of images in one pass each. Large images are done in "
        "overlapping tiles, blended without seams. Without INPUT it stylises the shipped sample photo; INPUT - reads "
        "one image from stdin and -o - writes it to stdout.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders, or - for stdin")
    add_output(parser, "stylized/", "output folder, a file name for one input, or - for stdout")
    parser.add_argument("--format", choices=tuple(STDOUT_FORMATS), help="image format for -o - (default png)")
    parser.add_argument(
        "--size", type=image_size, default=default(StylizeOptions, "size"),
        help="N (long side) or HxW of the result (default: each input's own)",
    )  # fmt: skip
    parser.add_argument(
        "--preserve-color", action="store_true", default=default(StylizeOptions, "preserve_color"),
        help="keep the input's colours (the result's luminance with the input's chroma)",
    )  # fmt: skip
    add_strength(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, default=BATCH_SIZE, help=f"images of one size per run (default {BATCH_SIZE})"
    )
    tile, overlap = default(StylizeOptions, "tile"), default(StylizeOptions, "overlap")  # overlap None: adaptive
    parser.add_argument("--tile", type=positive_int, default=tile, help=f"tile side for large images (default {tile})")
    parser.add_argument(
        "--overlap", type=non_negative_int, default=overlap, help="tile overlap in px (default 128, or a quarter of a "
        "tile smaller than 512)",
    )  # fmt: skip
    parser.add_argument(
        "--stats-side", type=positive_int, default=default(StylizeOptions, "stats_side"),
        help="the copy whose normalisation statistics the tiles share has at most this² pixels (default: √2 × "
        "--tile, twice a tile's pixels; larger is closer to an untiled result and needs more memory)",
    )  # fmt: skip
    add_max_pixels(parser)
    add_strict(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(parser)
    add_model_options(parser)
    parser.set_defaults(run=run_stylize)


def _stdio(args: argparse.Namespace, stylizer, options: StylizeOptions) -> dict:
    """One image from stdin (INPUT -) or a file, to stdout (-o -) or a file."""
    from impasto.runtime.media.decode import decode_image, read_image
    from impasto.runtime.media.encode import encode_image, write_image, write_stdout
    from impasto.runtime.media.paths import check_output_path

    to_stdout = args.output == STDIO
    if not to_stdout:
        if args.inputs == [STDIO] and (str(args.output).endswith(("/", os.sep)) or Path(args.output).is_dir()):
            raise ImpastoError(f"{args.output}: stdin gives one image; -o must name a file, or - for stdout")
        check_output_path(args.output)
    if args.inputs == [STDIO]:
        data = sys.stdin.buffer.read()
        image = decode_image(data, "stdin", stylizer.min_side, args.max_pixels)
        source = "stdin"
    else:
        image = read_image(args.inputs[0], stylizer.min_side, args.max_pixels)
        source = args.inputs[0]
    result = stylizer.stylize_with(image, options)
    if to_stdout:
        write_stdout(encode_image(result, STDOUT_FORMATS[args.format or "png"]))
    else:
        write_image(args.output, result)
    height, width = result.shape[:2]
    output = "stdout" if to_stdout else str(args.output)
    return {"input": str(source), "output": output, "width": width, "height": height}


def run_stylize(args: argparse.Namespace) -> int:
    from impasto.runtime.core.registry import sample_path
    from impasto.runtime.media.paths import collect_inputs, plan_outputs
    from impasto.runtime.nets.files import stylize_files
    from impasto.runtime.nets.stylizer import Stylizer

    if args.json and args.output == STDIO:
        raise ImpastoError("--json prints on stdout, where -o - writes the image; use one of them")
    if args.format and args.output != STDIO:
        raise ImpastoError("--format is for -o - (a file's suffix says its format)")
    if STDIO in args.inputs and (len(args.inputs) != 1):
        raise ImpastoError("- (stdin) must be the only input")
    options = StylizeOptions(args.size, args.preserve_color, args.tile, args.overlap, args.stats_side, args.strength)
    if args.inputs == [STDIO] or args.output == STDIO:
        if args.inputs != [STDIO] and len(args.inputs) != 1:
            raise ImpastoError("-o - writes one image: give one input")
        stylizer = Stylizer(args.model, session_config(args), args.precision)
        if args.output == STDIO and not args.inputs:
            args.inputs = [str(sample_path(DEFAULT_PHOTO))]
        written, failed = [_stdio(args, stylizer, options)], []
    else:
        inputs = collect_inputs(args.inputs or [sample_path(DEFAULT_PHOTO)])
        stylizer = Stylizer(args.model, session_config(args), args.precision)
        outputs = plan_outputs(inputs, args.output, stylizer.name)
        strict = args.strict or len(inputs) == 1  # one input: its error is the run's, one line
        report = stylize_files(stylizer, inputs, outputs, options, args.batch_size, args.quiet, strict, args.max_pixels)
        written = [{"input": str(i), "output": str(o)} for i, o in report.written]
        failed = [{"input": str(i), "error": reason} for i, reason in report.failed]
    if args.json:
        print_json({"model": stylizer.name, "precision": stylizer.net.precision, "results": written, "failed": failed})
    elif args.output != STDIO:
        for item in written:
            print(f"wrote {item['output']}")
    if failed:
        print(
            f"impasto: error: {len(failed)} of {len(failed) + len(written)} inputs could not be stylised (named above)",
            file=sys.stderr,
        )
        return EXIT_PARTIAL_FAILURE
    return 0
