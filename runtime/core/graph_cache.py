"""The on-disk cache of optimised graphs: a second start of the same model skips onnxruntime's graph optimisation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.core.files import make_folder
from impasto.runtime.core.machine import cpu_description
from impasto.runtime.core.providers import provider_chain
from impasto.runtime.core.session_config import SessionConfig


def optimized_cache_path(path: Path, config: SessionConfig) -> Path:
    """Where the optimised copy of ``path`` for this configuration lives: keyed by the file's bytes, onnxruntime's
    version, the provider chain, the optimisation level and the processor, so a stale copy is never used."""
    key = hashlib.sha256(path.read_bytes())
    processor = cpu_description()["name"]
    key.update(json.dumps([ort.__version__, provider_chain(config), config.optimization, processor]).encode())
    return Path(config.cache_dir) / f"{path.stem}.{key.hexdigest()[:16]}.onnx"


def cached_model_source(
    path: Path, config: SessionConfig, options: ort.SessionOptions
) -> tuple[Path, tuple[Path, Path] | None]:
    """The file to load and, when the optimised graph is being written this time, (where onnxruntime writes it,
    where it goes when done).

    TensorRT and OpenVINO compile the graph themselves (TensorRT has its own engine cache), so only the CPU and
    CUDA providers use the optimised-graph cache.
    """
    if not config.cache_dir or config.optimization == "disable" or config.provider not in ("cpu", "cuda"):
        return path, None
    cached = optimized_cache_path(path, config)
    if cached.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return cached, None
    make_folder(cached.parent)
    pending = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    options.optimized_model_filepath = str(pending)
    # weights kept outside the model file (the loss graphs) are written beside the copy, under its final name
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", f"{cached.name}.data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return path, (pending, cached)
