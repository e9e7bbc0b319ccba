"""``impasto sheet``: one photo in every shipped style (and a few blends), labelled, on one image."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.runtime.cli.args import add_output, add_precision, add_session_options, positive_int, session_config


def add_sheet(commands) -> None:
    parser = commands.add_parser(
        "sheet",
        help="one photo in every shipped style, labelled: how to choose a style",
        description="Stylise PHOTO with every shipped style (each style of a net of several styles, and a few "
        "half-and-half blends of them) and lay the results out, labelled, on one image.",
    )
    parser.add_argument("photo", help="a photo")
    add_output(parser, "sheet.jpg", "the sheet (.jpg, .png, …)")
    parser.add_argument("--size", type=positive_int, default=384, help="long side of each panel (default 384)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="these models or blends instead of every one")
    parser.add_argument("--columns", type=positive_int, help="panels per row (default: about square)")
    add_precision(parser)
    add_session_options(parser, cuda_graph=False)
    parser.set_defaults(run=run_sheet)


def run_sheet(args: argparse.Namespace) -> int:
    from impasto.runtime.media.decode import read_image
    from impasto.runtime.media.encode import write_image
    from impasto.runtime.media.paths import check_output_path, refuse_overwriting_inputs
    from impasto.runtime.nets.sheet import contact_sheet

    output = check_output_path(args.output)
    refuse_overwriting_inputs([Path(args.photo)], [output])
    image = read_image(args.photo)
    sheet = contact_sheet(image, args.models, args.size, args.columns, session_config(args), args.precision)
    write_image(output, sheet)
    print(f"wrote {output} ({sheet.shape[1]}×{sheet.shape[0]})")
    return 0
