"""Argument parsing shared by the ``impasto`` subcommands: one-line errors and checked number types."""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_USER_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line instead of usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


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


def add_session_options(parser: argparse.ArgumentParser, providers: bool = True, cuda_graph: bool = True) -> None:
    """The onnxruntime options every command takes (see ``SessionConfig``); ``impasto bench`` chooses providers
    and CUDA graphs per configuration instead."""
    from impasto.runtime.sessions import CUDNN_ALGO_SEARCH, OPTIMIZATION_LEVELS, PROVIDER_NAMES

    group = parser.add_argument_group("onnxruntime")
    if providers:
        group.add_argument("--provider", choices=tuple(PROVIDER_NAMES), default="cpu")
    group.add_argument("--threads", type=positive_int, help="intra-op threads (default: all cores)")
    group.add_argument(
        "--graph-opt", choices=tuple(OPTIMIZATION_LEVELS), default="all", help="graph optimisation level (default all)"
    )
    group.add_argument(
        "--cache-dir", type=Path,
        help="keep optimised graphs (and TensorRT engines and timing caches) here, so later starts are faster",
    )  # fmt: skip
    group.add_argument(
        "--cudnn-algo", choices=CUDNN_ALGO_SEARCH, default="heuristic",
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
    from impasto.runtime.sessions import SessionConfig

    return SessionConfig(
        provider=provider or args.provider, threads=args.threads, optimization=args.graph_opt,
        cache_dir=args.cache_dir, cudnn_conv_algo_search=args.cudnn_algo,
        cudnn_max_workspace=not args.no_cudnn_max_workspace, cuda_graph=getattr(args, "cuda_graph", False),
        trt_fp16=args.trt_fp16,
        trt_profile=tuple(args.trt_profile) if args.trt_profile else None,
    )  # fmt: skip
