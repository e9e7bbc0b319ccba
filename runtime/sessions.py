"""onnxruntime sessions: provider choice, options, and one clear error for a file that is not a usable model."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.errors import ImpastoError

PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def provider_list(provider: str) -> list:
    """What to hand onnxruntime for ``cpu`` or ``cuda``; CUDA keeps the CPU provider behind it for shape ops."""
    if provider not in PROVIDER_NAMES:
        raise ImpastoError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
    name = PROVIDER_NAMES[provider]
    if name not in ort.get_available_providers():
        raise ImpastoError(
            f"onnxruntime here has no {name} (it has {', '.join(ort.get_available_providers())}); for CUDA install "
            "onnxruntime-gpu instead of onnxruntime"
        )
    if provider == "cuda":
        return [(name, {"cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"]
    return [name]


def session_options(threads: int | None = None, profile: bool = False, memory_arena: bool = True) -> ort.SessionOptions:
    """``memory_arena=False`` returns memory after every run instead of keeping a high-water arena per session."""
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = memory_arena
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers and the like are not the user's business
    if threads:
        options.intra_op_num_threads = threads
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.gettempdir(), "impasto-profile")
    return options


def open_session(
    path: str | Path,
    provider: str = "cpu",
    threads: int | None = None,
    profile: bool = False,
    memory_arena: bool = True,
) -> ort.InferenceSession:
    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"{path}: no such model file")
    providers = provider_list(provider)
    try:
        return ort.InferenceSession(str(path), session_options(threads, profile, memory_arena), providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types, one per failure kind
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImpastoError(f"{path}: not a loadable ONNX model ({reason[:200]})") from error


def metadata(session: ort.InferenceSession) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def node_providers(session: ort.InferenceSession, feeds: dict) -> Counter:
    """(op type, provider) → count of executed nodes, from a profiled run; the session must be opened with profile=True.

    Used to prove that no compute node falls back from CUDA to the CPU.
    """
    session.run(None, feeds)
    profile = session.end_profiling()
    try:
        events = json.loads(Path(profile).read_text())
    finally:
        Path(profile).unlink(missing_ok=True)
    return Counter(
        (event["args"]["op_name"], event["args"].get("provider", "?"))
        for event in events
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time")
    )
