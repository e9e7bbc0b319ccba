"""Execution providers: which ones this onnxruntime build has, and the chain (with options) a session is given."""

from __future__ import annotations

import sys
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder
from impasto.runtime.core.session_config import PROVIDER_NAMES, SessionConfig, Shape


def available_providers() -> list[str]:
    """Short names (cpu, cuda, …) of the providers this onnxruntime build has."""
    have = set(ort.get_available_providers())
    return [short for short, name in PROVIDER_NAMES.items() if name in have]


def check_available(provider: str) -> None:
    name = PROVIDER_NAMES[provider]
    if name not in ort.get_available_providers():
        hint = {
            "cuda": "install onnxruntime-gpu instead of onnxruntime",
            "tensorrt": "install onnxruntime-gpu and TensorRT (pip install tensorrt)",
            "openvino": "install onnxruntime-openvino instead of onnxruntime",
        }.get(provider, "")
        raise ImpastoError(
            f"onnxruntime here has no {name} (it has {', '.join(ort.get_available_providers())})"
            + (f"; {hint}" if hint else "")
        )


def _cuda_options(config: SessionConfig) -> dict[str, str]:
    options = {
        "cudnn_conv_algo_search": config.cudnn_conv_algo_search.upper(),
        "cudnn_conv_use_max_workspace": "1" if config.cudnn_max_workspace else "0",
    }
    if config.cuda_graph:
        options["enable_cuda_graph"] = "1"
    return options


def _shape_text(inputs: list[str], shape: Shape) -> str:
    return ",".join(f"{name}:1x3x{shape[0]}x{shape[1]}" for name in inputs)


def _tensorrt_options(config: SessionConfig, image_inputs: list[str]) -> dict[str, str]:
    options = {"trt_fp16_enable": "1" if config.trt_fp16 else "0"}
    if config.cache_dir:
        engines = Path(config.cache_dir) / "tensorrt"
        make_folder(engines)
        options |= {
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": str(engines),
            "trt_timing_cache_enable": "1",
            "trt_timing_cache_path": str(engines),
        }
    if config.trt_profile and image_inputs:
        low, best, high = config.trt_profile
        options |= {
            "trt_profile_min_shapes": _shape_text(image_inputs, low),
            "trt_profile_opt_shapes": _shape_text(image_inputs, best),
            "trt_profile_max_shapes": _shape_text(image_inputs, high),
        }
    if config.cuda_graph:
        options["trt_cuda_graph_enable"] = "1"
    return options


def provider_chain(config: SessionConfig, image_inputs: list[str] | None = None) -> list:
    """What to hand onnxruntime: the chosen provider with its options, then the ones behind it (TensorRT → CUDA →
    CPU) for what it cannot run. Pure: says nothing about what is installed (see :func:`check_available`)."""
    if config.provider == "cpu":
        return ["CPUExecutionProvider"]
    if config.provider == "openvino":
        return [(PROVIDER_NAMES["openvino"], {"device_type": "CPU"}), "CPUExecutionProvider"]
    chain: list = [(PROVIDER_NAMES["cuda"], _cuda_options(config)), "CPUExecutionProvider"]
    if config.provider == "tensorrt":
        chain.insert(0, (PROVIDER_NAMES["tensorrt"], _tensorrt_options(config, image_inputs or [])))
    return chain


def provider_list(config: SessionConfig, image_inputs: list[str] | None = None) -> list:
    """The chain for ``config``; ImpastoError when onnxruntime here lacks its provider, unless
    ``config.allow_fallback``, which says so in one warning line and runs on the CPU."""
    try:
        check_available(config.provider)
    except ImpastoError as error:
        if not config.allow_fallback:
            raise
        print(f"impasto: warning: {error}; running on the CPU (--allow-fallback)", file=sys.stderr)
        return ["CPUExecutionProvider"]
    return provider_chain(config, image_inputs)
