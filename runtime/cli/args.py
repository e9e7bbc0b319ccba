"""Argument parsing shared by the ``impasto`` subcommands: one grammar for all of them.

One-line errors; checked number types; sizes as ``N`` (long side) or ``HxW``; ``-o/--output`` for what a command
writes; ``--json`` for machine-readable output on stdout; defaults read from the settings dataclasses, so the
command line and the Python API never disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line instead of usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"impasto: error: {message} (see `{self.prog} --help`)\n")


def default(settings: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``settings`` (the one source of every CLI default)."""
    for item in dataclasses.fields(settings):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
    raise KeyError(f"{settings.__name__} has no default for {name}")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None


def positive_int(text: str) -> int:
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def image_size(text: str) -> int | tuple[int, int]:
    """``N`` (the long side, in pixels) or ``HxW`` (exact height and width)."""
    if "x" in text.lower():
        return image_shape(text)
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a size N (long side) or HxW: {text}") from None


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, not {text}")
    return value


def positive(text: str) -> float:
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def image_shape(text: str) -> tuple[int, int]:
    """``HxW`` (e.g. ``720x1280``) → (height, width)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size HxW: {text}") from None
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f"sides must be positive: {text}")
    return height, width


def add_output(parser: argparse.ArgumentParser, default_value: str | Path | None, help_text: str) -> None:
    """``-o/--output``, the one name for what a command writes."""
    suffix = f" (default {default_value})" if default_value is not None else ""
    parser.add_argument("-o", "--output", default=default_value, help=help_text + suffix)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")


def print_json(document: Any) -> None:
    """One JSON document on stdout (paths and tuples made plain)."""
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def add_session_options(parser: argparse.ArgumentParser, providers: bool = True, cuda_graph: bool = True) -> None:
    """The onnxruntime options every command takes (see ``SessionConfig``); ``impasto bench`` chooses providers
    and CUDA graphs per configuration instead."""
    from impasto.runtime.core.session_config import (
        CUDNN_ALGO_SEARCH,
        OPTIMIZATION_LEVELS,
        PROVIDER_NAMES,
        SessionConfig,
    )

    group = parser.add_argument_group("onnxruntime")
    if providers:
        group.add_argument("--provider", choices=tuple(PROVIDER_NAMES), default=default(SessionConfig, "provider"))
        group.add_argument(
            "--allow-fallback", action="store_true", default=default(SessionConfig, "allow_fallback"),
            help="run on what onnxruntime falls back to when the provider cannot start (default: refuse)",
        )  # fmt: skip
    group.add_argument("--threads", type=positive_int, help="intra-op threads (default: all cores)")
    level = default(SessionConfig, "optimization")
    group.add_argument(
        "--graph-opt", choices=tuple(OPTIMIZATION_LEVELS), default=level, help=f"graph optimisation level ({level})"
    )
    group.add_argument(
        "--cache-dir", type=Path,
        help="keep optimised graphs (and TensorRT engines and timing caches) here, so later starts are faster",
    )  # fmt: skip
    group.add_argument(
        "--cudnn-algo", choices=CUDNN_ALGO_SEARCH, default=default(SessionConfig, "cudnn_conv_algo_search"),
        help="cuDNN convolution algorithm search (CUDA; exhaustive is slower to start, can be faster to run)",
    )  # fmt: skip
    group.add_argument(
        "--no-cudnn-max-workspace", action="store_true", help="limit cuDNN's workspace (CUDA; saves GPU memory)"
    )
    if cuda_graph:
        group.add_argument("--cuda-graph", action="store_true", help="replay a captured CUDA graph per frame size")
    group.add_argument("--trt-fp16", action="store_true", help="let TensorRT run in half precision")
    group.add_argument(
        "--trt-profile", type=image_shape, nargs=3, metavar=("MIN", "OPT", "MAX"),
        help="TensorRT shape profile: smallest, typical and largest image as HxW, one engine for all of them",
    )  # fmt: skip


def session_config(args: argparse.Namespace, provider: str | None = None):
    """The ``SessionConfig`` the options of :func:`add_session_options` describe."""
    from impasto.runtime.core.session_config import SessionConfig

    return SessionConfig(
        provider=provider or args.provider, threads=args.threads, optimization=args.graph_opt,
        cache_dir=args.cache_dir, cudnn_conv_algo_search=args.cudnn_algo,
        cudnn_max_workspace=not args.no_cudnn_max_workspace, cuda_graph=getattr(args, "cuda_graph", False),
        trt_fp16=args.trt_fp16,
        trt_profile=tuple(args.trt_profile) if args.trt_profile else None,
        allow_fallback=getattr(args, "allow_fallback", False),
    )  # fmt: skip


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def pixel_limit(text: str) -> int:
    """A pixel count from 1 up to the reader's ceiling."""
    from impasto.runtime.media import PIXEL_CEILING

    value = positive_int(text)
    if value > PIXEL_CEILING:
        raise argparse.ArgumentTypeError(f"at most {PIXEL_CEILING:,} pixels, not {text}")
    return value


def add_max_pixels(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels``: images whose header declares more are refused before a pixel is decoded."""
    from impasto.runtime.media import MAX_PIXELS

    parser.add_argument(
        "--max-pixels", type=pixel_limit, default=MAX_PIXELS,
        help=f"refuse images whose header declares more pixels, before decoding them ({MAX_PIXELS:,})",
    )  # fmt: skip


def add_strict(parser: argparse.ArgumentParser) -> None:
    """``--strict``: the first bad input stops the run (by default the others are done and the bad ones named)."""
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first input that cannot be read (default: do the others, "
        "name each bad one, exit 1 at the end)",
    )  # fmt: skip


def add_strength(parser: argparse.ArgumentParser) -> None:
    """``--strength S``: how much of the net's result (0: the photo, 1: the result; a blend between)."""
    from impasto.runtime.nets.stylizer import StylizeOptions

    value = default(StylizeOptions, "strength")
    parser.add_argument(
        "--strength", type=fraction, default=value, help=f"0 gives the photo, 1 the style's result ({value:g})"
    )


def add_precision(parser: argparse.ArgumentParser) -> None:
    """``--precision``: which variant of a net to run."""
    from impasto.runtime.core.registry import PRECISIONS

    parser.add_argument(
        "--precision", choices=PRECISIONS,
        help="which variant to run: fp16 for GPUs, int8 for CPUs (default: fp32 for a name, the file's own for a path; "
        "a path's variants are found through the manifest beside it)",
    )  # fmt: skip


def add_model_options(parser: argparse.ArgumentParser, many: bool = False, cuda_graph: bool = True) -> None:
    """``--model`` (a name or an ``.onnx`` path; repeatable with ``many``), ``--precision`` and the session options."""
    help_text = "model name or .onnx file (default: the first shipped transformer net; see `impasto models`)"
    if many:
        parser.add_argument("--model", action="append", help=help_text + "; repeat to switch between them with m")
    else:
        parser.add_argument("--model", help=help_text)
    add_precision(parser)
    add_session_options(parser, cuda_graph=cuda_graph)
