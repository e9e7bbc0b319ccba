"""``impasto optimize``: Gatys optimisation of an image, every loss and gradient evaluated by onnxruntime."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.runtime.cli.args import (
    add_json,
    add_max_pixels,
    add_output,
    add_session_options,
    default,
    image_size,
    non_negative,
    positive,
    positive_int,
    print_json,
    session_config,
)
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.settings import DEFAULT_MODEL, INITS, OPTIMIZERS, OptimizeSettings
from impasto.runtime.media.color import PRESERVE_COLOR_MODES
from impasto.runtime.media.paths import STDIO

if TYPE_CHECKING:
    from impasto.runtime.gatys.optimize import OptimizeInterrupted

DEFAULT_CONTENT = "images/chelsea.png"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
DEFAULT_STYLE = "images/great-wave.jpg"


def add_optimize(commands) -> None:
    parser = commands.add_parser(
        "optimize",
        help="Gatys style transfer by optimisation (onnxruntime, no PyTorch)",
        description="Optimise an image so its VGG16 features match the content photo and its Gram matrices the "
        "style painting(s). Without --content/--style it uses the shipped sample photo and painting.",
    )
    parser.add_argument("--content", help="content photo, or - for stdin (default: a shipped sample photo)")
    parser.add_argument(
        "--style", action="append", help="style image (- for stdin); repeat for several (default: a shipped painting)"
    )
    parser.add_argument("--style-blend", type=positive, nargs="+", metavar="W", help="one weight per --style")
    add_output(parser, "stylized.png", "result file (.png, .jpg, …), or - for a PNG on stdout")
    size, iters = default(OptimizeSettings, "size"), default(OptimizeSettings, "iters")
    parser.add_argument("--size", type=image_size, default=size, help=f"N (long side) or HxW of the result ({size})")
    parser.add_argument("--iters", type=positive_int, default=iters, help=f"iterations at the coarsest scale ({iters})")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=default(OptimizeSettings, "optimizer"))
    rate = default(OptimizeSettings, "learning_rate")
    parser.add_argument("--learning-rate", type=positive, default=rate, help=f"Adam's step in pixel units ({rate:g})")
    parser.add_argument("--content-weight", type=non_negative, help="α (default: the model's)")
    parser.add_argument("--style-weight", type=non_negative, help="β (default: the model's)")
    parser.add_argument("--tv-weight", type=non_negative, help="γ, total variation (default: the model's)")
    parser.add_argument("--init", choices=INITS, default=default(OptimizeSettings, "init"))
    parser.add_argument("--seed", type=int, default=default(OptimizeSettings, "seed"), help="seed for --init noise")
    parser.add_argument(
        "--style-scale", type=positive, default=default(OptimizeSettings, "style_scale"),
        help="style image size relative to the output",
    )  # fmt: skip
    parser.add_argument(
        "--preserve-color", nargs="?", const=PRESERVE_COLOR_MODES[0], choices=PRESERVE_COLOR_MODES,
        help="keep the content's colours: luminance-only transfer (default) or colour histogram matching",
    )  # fmt: skip
    parser.add_argument("--scales", type=positive_int, help="coarse-to-fine scales (default: automatic)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"loss graph name or .onnx path ({DEFAULT_MODEL})")
    parser.add_argument("--pooling", choices=("avg", "max"), help="shorthand for --model vgg16-avg / vgg16-max")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_max_pixels(parser)
    add_json(parser)
    add_session_options(parser, cuda_graph=False)  # each scale has its own size; the nets' commands take graphs
    parser.set_defaults(run=run_optimize)


def run_optimize(args: argparse.Namespace) -> int:
    from impasto.runtime.core.registry import sample_path
    from impasto.runtime.gatys.loss_model import GatysLossModel
    from impasto.runtime.gatys.optimize import OptimizeInterrupted, optimize, preflight
    from impasto.runtime.media.paths import check_output_path, refuse_overwriting_inputs

    content_path = Path(args.content) if args.content else sample_path(DEFAULT_CONTENT)
    style_paths = [Path(p) for p in args.style] if args.style else [sample_path(DEFAULT_STYLE)]
    if [content_path, *style_paths].count(Path(STDIO)) > 1:
        raise ImpastoError("stdin (-) can give one image only")
    if args.json and args.output == STDIO:
        raise ImpastoError("--json prints on stdout, where -o - writes the image; use one of them")
    output = Path(STDIO) if args.output == STDIO else check_output_path(args.output)
    if args.output != STDIO:
        refuse_overwriting_inputs([content_path, *style_paths], [output])
    model = GatysLossModel(f"vgg16-{args.pooling}" if args.pooling else args.model, session_config(args))
    settings = OptimizeSettings(
        size=args.size, iters=args.iters, optimizer=args.optimizer, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, init=args.init, seed=args.seed,
        style_scale=args.style_scale, style_blend=args.style_blend, preserve_color=args.preserve_color,
        learning_rate=args.learning_rate, scales=args.scales,
    )  # fmt: skip
    content = read_input(content_path, args.max_pixels)
    styles = [read_input(path, args.max_pixels) for path in style_paths]
    preflight(model, content, styles, settings)
    print(
        f"loss graph: {model.path.name} ({model.pooling} pooling; VGG16 weights: {model.weights_source})",
        file=sys.stderr,
    )
    try:
        result = optimize(model, content, styles, settings, progress=not args.quiet)
    except OptimizeInterrupted as interrupted:
        return keep_interrupted(interrupted, output, model.path.name, args.json)
    with ignoring_interrupts():  # the work is done: a Ctrl-C now would only cost the result
        write_result(result.image, output)
    last = result.history[-1] if result.history else {}
    height, width = result.image.shape[:2]
    if args.json:
        print_json({
            "output": str(output), "width": width, "height": height, "iterations": len(result.history),
            "loss": last.get("loss"), "content_loss": last.get("content"), "style_loss": last.get("style"),
            "tv_loss": last.get("tv"), "model": model.path.name,
        })  # fmt: skip
    elif output != Path(STDIO):
        print(f"wrote {output} ({width}×{height}, final loss {last.get('loss', 0):.4g})")
    return 0


def write_result(image, output: Path) -> None:
    """The image as a PNG on stdout for ``-`` or to the file, atomically."""
    from impasto.runtime.media.encode import encode_image, write_image, write_stdout

    if output == Path(STDIO):
        write_stdout(encode_image(image, ".png"))
    else:
        write_image(output, image)


def keep_interrupted(interrupted: OptimizeInterrupted, output: Path, model: str, as_json: bool) -> int:
    """Ctrl-C: write the best image so far where the result was asked for (a further Ctrl-C is ignored meanwhile, so
    the file is whole), say so in one line, and exit 130 like any interrupted command."""
    where = "stdout" if output == Path(STDIO) else str(output)
    said = f"impasto: interrupted at iteration {interrupted.done} of {interrupted.total}"
    if interrupted.result is None:
        print(f"{said}, before the first; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    image = interrupted.result.image
    with ignoring_interrupts():
        write_result(image, output)
    print(f"{said}; wrote the best image so far (loss {interrupted.loss:.4g}) to {where}", file=sys.stderr)
    if as_json:
        height, width = image.shape[:2]
        print_json({
            "output": str(output), "width": width, "height": height, "interrupted": True,
            "iterations": interrupted.done, "of": interrupted.total, "loss": interrupted.loss,
            "model": model,
        })  # fmt: skip
    return EXIT_INTERRUPTED


@contextmanager
def ignoring_interrupts() -> Iterator[None]:
    """SIGINT ignored for the duration (in the main thread; elsewhere it cannot arrive anyway)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def read_input(path: Path, max_pixels: int):
    """An image file, or stdin for ``-`` (float32 RGB 0–255), refused unopened over ``max_pixels``."""
    from impasto.runtime.media.decode import decode_image, read_image

    if path == Path(STDIO):
        return decode_image(sys.stdin.buffer.read(), "stdin", max_pixels=max_pixels)
    return read_image(path, max_pixels=max_pixels)
