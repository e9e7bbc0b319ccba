"""``impasto optimize``: Gatys optimisation of an image, every loss and gradient evaluated by onnxruntime."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
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
from impasto.runtime.gatys.schedule import COARSEST_SIDE, DEFAULT_PRESET, PRESETS
from impasto.runtime.gatys.settings import (
    DEFAULT_ITERS,
    DEFAULT_MODEL,
    INITS,
    OPTIMIZERS,
    PARAMETERIZATIONS,
    OptimizeSettings,
)
from impasto.runtime.media.color import PRESERVE_COLOR_MODES
from impasto.runtime.media.paths import STDIO

if TYPE_CHECKING:
    import numpy as np

    from impasto.runtime.gatys.optimize import OptimizeInterrupted, OptimizeResult
    from impasto.runtime.gatys.schedule import Schedule

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
    size = default(OptimizeSettings, "size")
    parser.add_argument("--size", type=image_size, default=size, help=f"N (long side) or HxW of the result ({size})")
    parser.add_argument(
        "--preset", choices=tuple(PRESETS), default=default(OptimizeSettings, "preset"),
        help=f"measured coarse-to-fine schedule: scales, iteration caps, early stop and start image (default: "
        f"{DEFAULT_PRESET}, unless --iters/--scales replace it)",
    )  # fmt: skip
    parser.add_argument(
        "--iters", type=positive_int, default=default(OptimizeSettings, "iters"),
        help=f"replace the preset's schedule: iterations at the coarsest scale, half as many at each finer one "
        f"({DEFAULT_ITERS} when only --scales is given)",
    )  # fmt: skip
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=default(OptimizeSettings, "optimizer"))
    parser.add_argument(
        "--parameterization", choices=PARAMETERIZATIONS, default=default(OptimizeSettings, "parameterization"),
        help="what the optimiser moves: the pixels, or a Laplacian pyramid in decorrelated colour (slower to "
        "converge with L-BFGS in our measurements; benchmarks/RESULTS.md)",
    )  # fmt: skip
    rate = default(OptimizeSettings, "learning_rate")
    parser.add_argument("--learning-rate", type=positive, default=rate, help=f"Adam's step in pixel units ({rate:g})")
    parser.add_argument("--content-weight", type=non_negative, help="α (default: the model's)")
    parser.add_argument("--style-weight", type=non_negative, help="β (default: the model's)")
    parser.add_argument("--tv-weight", type=non_negative, help="γ, total variation (default: the model's)")
    parser.add_argument(
        "--init", choices=INITS, default=default(OptimizeSettings, "init"),
        help="start image (default: the preset's; content with --iters/--scales); palette: the content recoloured "
        "to the painting's colours; net: the shipped net's result when one was trained on this painting",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=default(OptimizeSettings, "seed"), help="seed for --init noise")
    parser.add_argument(
        "--style-scale", type=positive, default=default(OptimizeSettings, "style_scale"),
        help="style image size relative to the output",
    )  # fmt: skip
    parser.add_argument(
        "--preserve-color", nargs="?", const=PRESERVE_COLOR_MODES[0], choices=PRESERVE_COLOR_MODES,
        help="keep the content's colours: luminance-only transfer (default) or colour histogram matching",
    )  # fmt: skip
    parser.add_argument(
        "--scales", type=positive_int, default=default(OptimizeSettings, "scales"),
        help=f"replace the preset's schedule: this many coarse-to-fine scales (with --iters alone: the size is "
        f"halved while the half is at least {COARSEST_SIDE} px)",
    )  # fmt: skip
    parser.add_argument(
        "--save-every", type=positive_int, metavar="N",
        help="also write the best image so far every N iterations, beside the output as STEM-NNNN.SUFFIX "
        "(NNNN: the iterations done)",
    )  # fmt: skip
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
    if args.save_every and args.output == STDIO:
        raise ImpastoError("--save-every names its snapshots after the output file; name one instead of -o -")
    settings = OptimizeSettings(
        size=args.size, preset=args.preset, iters=args.iters, optimizer=args.optimizer,
        parameterization=args.parameterization,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        init=args.init, seed=args.seed, style_scale=args.style_scale, style_blend=args.style_blend,
        preserve_color=args.preserve_color, learning_rate=args.learning_rate, scales=args.scales,
    )  # fmt: skip
    settings.check()  # before the loss graph is opened
    output = Path(STDIO) if args.output == STDIO else check_output_path(args.output)
    inputs = [content_path, *style_paths]
    if args.output != STDIO:
        refuse_overwriting_inputs(inputs, [output])
    if args.save_every:  # every name the run could write, before any work (min_side 1: the most scales there can be)
        check_snapshot_paths(output, args.save_every, settings.schedule(settings.long_side, 1).iterations, inputs)
    model = GatysLossModel(f"vgg16-{args.pooling}" if args.pooling else args.model, session_config(args))
    content = read_input(content_path, args.max_pixels)
    styles = [read_input(path, args.max_pixels) for path in style_paths]
    preflight(model, content, styles, settings)
    start_image = net_start_image(content, styles, settings) if settings.start() == "net" else None
    schedule = settings.schedule(settings.long_side, model.min_side, content.shape)
    print(
        f"loss graph: {model.path.name} ({model.pooling} pooling; VGG16 weights: {model.weights_source})",
        file=sys.stderr,
    )
    print(f"schedule: {describe(settings, schedule)}", file=sys.stderr)
    snapshots = Snapshots(output, args.save_every or 0)
    started = time.perf_counter()
    try:
        result = optimize(
            model, content, styles, settings, progress=not args.quiet,
            snapshot_every=snapshots.every, on_snapshot=snapshots.write, start_image=start_image,
        )  # fmt: skip
    except OptimizeInterrupted as interrupted:
        report = run_report(settings, schedule, interrupted.result, time.perf_counter() - started, snapshots)
        return keep_interrupted(interrupted, output, model.path.name, args.json, report, snapshots)
    seconds = time.perf_counter() - started
    with ignoring_interrupts():  # the work is done: a Ctrl-C now would only cost the result
        write_result(result.image, output)
    last = result.history[-1] if result.history else {}
    height, width = result.image.shape[:2]
    report = run_report(settings, schedule, result, seconds, snapshots)
    if args.json:
        print_json({
            "output": str(output), "width": width, "height": height, "iterations": len(result.history),
            "loss": last.get("loss"), "content_loss": last.get("content"), "style_loss": last.get("style"),
            "tv_loss": last.get("tv"), "model": model.path.name, **report,
        })  # fmt: skip
        snapshots.say(written=False)
    else:
        if output != Path(STDIO):
            print(
                f"wrote {output} ({width}×{height}, final loss {last.get('loss', 0):.4g}, "
                f"{len(result.history)} iterations in {seconds:.1f} s)"
            )
        snapshots.say()
    return snapshots.status()


def describe(settings: OptimizeSettings, schedule: Schedule) -> str:
    """The schedule in one line: ``balanced, 128 px ≤ 300 → 256 px ≤ 100 iterations (at most 400); …``."""
    caps = " → ".join(f"{scale.long_side} px ≤ {scale.iters}" for scale in schedule.scales)
    stop = "; each scale stops early once it plateaus" if schedule.patience else ""
    return f"{settings.schedule_name}, {caps} iterations (at most {schedule.iterations}){stop}"


def run_report(
    settings: OptimizeSettings, schedule: Schedule, result: OptimizeResult | None, seconds: float,
    snapshots: Snapshots,
) -> dict:  # fmt: skip
    """What --json adds: the preset, each scale's long side, cap, iterations actually run and seconds (0 for a
    scale an interruption never reached), the run's seconds and the snapshots written."""
    history = result.history if result is not None else []
    scales, previous = [], 0.0
    for index, scale in enumerate(schedule.scales):
        steps = [step for step in history if step["scale"] == index]
        ended = steps[-1]["seconds"] if steps else previous
        scales.append({"size": scale.long_side, "cap": scale.iters, "iterations": len(steps),
                       "seconds": round(ended - previous, 3)})  # fmt: skip
        previous = ended
    report = {"preset": settings.schedule_name, "scales": scales, "seconds": round(seconds, 3),
              "snapshots": [str(path) for path in snapshots.written]}  # fmt: skip
    if snapshots.failed is not None:
        report["snapshot_error"] = snapshots.failed
    return report


def net_start_image(content: np.ndarray, styles: list[np.ndarray], settings: OptimizeSettings) -> np.ndarray:
    """--init net: the shipped net's result for the painting, at the result's size (where its strokes have the
    size it learnt); one line when no shipped net was trained on this painting."""
    from impasto.runtime.gatys.optimize import exact_content
    from impasto.runtime.media.resize import long_side_size, resize
    from impasto.runtime.nets.painting_start import net_for_painting, net_start

    if net_for_painting(styles[0]) is None:
        raise ImpastoError(
            "--init net needs a painting a shipped net was trained on (impasto models lists them); "
            "use --init content or palette for this one"
        )
    content, side = exact_content(content, settings)
    return net_start(resize(content, long_side_size(content.shape, side)), styles[0])


def snapshot_path(output: Path, done: int) -> Path:
    """The snapshot after ``done`` iterations: ``out.png`` → ``out-0050.png``."""
    return output.with_name(f"{output.stem}-{done:04d}{output.suffix}")


def check_snapshot_paths(output: Path, every: int, most: int, inputs: list[Path]) -> None:
    """ImpastoError unless every snapshot a run of at most ``most`` iterations could write can be written: not a
    folder, not an input, and a name short enough for the temporary file ``write_atomic`` makes beside it (the
    output's folder is already probed). Only the names that exist are looked at, so a huge ``most`` costs
    nothing."""
    pattern = re.compile(rf"{re.escape(output.stem)}-(\d{{4,}}){re.escape(output.suffix)}")
    sources = {path.resolve() for path in inputs if path.exists()}
    for existing in output.parent.glob(f"{output.stem}-*{output.suffix}"):
        match = pattern.fullmatch(existing.name)
        done = int(match.group(1)) if match else 0
        if not match or done % every or done > most or snapshot_path(output, done).name != existing.name:
            continue
        if existing.is_dir():
            raise ImpastoError(f"{existing}: --save-every would write this snapshot, but it is a folder")
        if existing.resolve() in sources:
            raise ImpastoError(f"{existing}: is an input; a --save-every snapshot would replace it")
    if most >= every:
        longest = snapshot_path(output, most - most % every)
        try:
            fd, probe = tempfile.mkstemp(dir=longest.parent, prefix=f".{longest.name}.", suffix=".tmp")
        except OSError as error:
            raise ImpastoError(f"{longest}: --save-every cannot write this snapshot ({error.strerror})") from None
        os.close(fd)
        os.unlink(probe)


class Snapshots:
    """--save-every: each best-image-so far written atomically as ``snapshot_path``; a snapshot that cannot be
    written (a disk that filled up) ends the snapshots, not the run, and makes the exit status 1."""

    def __init__(self, output: Path, every: int) -> None:
        self.output, self.every = output, every
        self.written: list[Path] = []
        self.failed: str | None = None

    def write(self, done: int, image: np.ndarray) -> None:
        from impasto.runtime.media.encode import encode_image, write_atomic

        if self.failed is not None:
            return
        path = snapshot_path(self.output, done)
        try:
            write_atomic(path, encode_image(image, path.suffix))
        except ImpastoError as error:
            self.failed = str(error)
            return
        self.written.append(path)

    def say(self, written: bool = True) -> None:
        """One stderr line naming the snapshots written (``written``), and one for a failure."""
        if written and self.written:
            first, last = self.written[0], self.written[-1]
            names = first.name if first == last else f"{first.name} … {last.name}"
            print(f"snapshots: {len(self.written)} written every {self.every} iterations, {names}", file=sys.stderr)
        if self.failed is not None:
            print(f"impasto: error: {self.failed}; no further snapshots were written", file=sys.stderr)

    def status(self) -> int:
        return 1 if self.failed is not None else 0


def write_result(image, output: Path) -> None:
    """The image as a PNG on stdout for ``-`` or to the file, atomically."""
    from impasto.runtime.media.encode import encode_image, write_image, write_stdout

    if output == Path(STDIO):
        write_stdout(encode_image(image, ".png"))
    else:
        write_image(output, image)


def keep_interrupted(
    interrupted: OptimizeInterrupted, output: Path, model: str, as_json: bool, report: dict, snapshots: Snapshots
) -> int:
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
            "model": model, **report,
        })  # fmt: skip
    snapshots.say(written=not as_json)
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
