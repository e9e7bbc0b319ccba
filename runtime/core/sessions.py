"""Opening onnxruntime sessions, with one clear error for a file that is not a model."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.graph_cache import cached_model_source
from impasto.runtime.core.providers import provider_list
from impasto.runtime.core.session_config import OPTIMIZATION_LEVELS, PROVIDER_NAMES, SessionConfig
from impasto.runtime.core.static_shapes import image_input_names, static_shape_model


def session_options(config: SessionConfig) -> ort.SessionOptions:
    """``memory_arena=False`` returns memory after every run instead of keeping a high-water arena per session."""
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = config.memory_arena
    options.graph_optimization_level = OPTIMIZATION_LEVELS[config.optimization]
    options.log_severity_level = 3  # warnings about unused initializers and the like are not the user's business
    if config.threads:
        options.intra_op_num_threads = config.threads
    if config.profile:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.gettempdir(), "impasto-profile")
    return options


def open_session(
    path: str | Path, config: SessionConfig | None = None, static_shapes: dict[str, tuple[int, ...]] | None = None
) -> ort.InferenceSession:
    """``static_shapes``: fix these inputs' shapes (what CUDA graphs need; see :func:`static_shape_model`)."""
    config = config or SessionConfig()
    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"{path}: no such model file")
    image_inputs = image_input_names(path) if config.provider == "tensorrt" and config.trt_profile else None
    providers = provider_list(config, image_inputs)
    options = session_options(config)
    source, writing = (path, None) if static_shapes else cached_model_source(path, config, options)
    try:
        model = static_shape_model(path, static_shapes) if static_shapes else str(source)
        session = ort.InferenceSession(model, options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types, one per failure kind
        if writing:
            writing[0].unlink(missing_ok=True)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImpastoError(f"{path}: not a loadable ONNX model ({reason[:200]})") from error
    if writing and writing[0].is_file():
        writing[0].replace(writing[1])
    if PROVIDER_NAMES[config.provider] in (p if isinstance(p, str) else p[0] for p in providers):
        confirm_provider(session, config, path)  # (not when --allow-fallback already chose the CPU, and said so)
    return session


def confirm_provider(session: ort.InferenceSession, config: SessionConfig, path: str | Path) -> None:
    """Refuse a session that does not run on the provider asked for.

    onnxruntime falls back to the CPU without an error when a provider it has cannot start (no GPU, a missing
    CUDA or cuDNN library, an unsupported TensorRT version), so `--provider cuda` would quietly run on the CPU.
    ImpastoError then, unless ``config.allow_fallback``, which prints one warning line on stderr instead.
    """
    wanted = PROVIDER_NAMES[config.provider]
    in_effect = session.get_providers()
    if wanted in in_effect:
        return
    message = f"{Path(path).name}: asked for {wanted}, but onnxruntime runs it on {', '.join(in_effect)}"
    if not config.allow_fallback:
        raise ImpastoError(f"{message} (the provider could not start here; --allow-fallback runs it anyway)")
    print(f"impasto: warning: {message}", file=sys.stderr)


def metadata(session: ort.InferenceSession) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def config_in_effect(session: ort.InferenceSession, config: SessionConfig) -> SessionConfig:
    """``config`` as ``session`` really runs: the CPU's when onnxruntime fell back (which only
    ``config.allow_fallback`` lets through), so IO binding and CUDA graphs are not asked of a provider not there."""
    if PROVIDER_NAMES[config.provider] in session.get_providers():
        return config
    return config.with_(provider="cpu", cuda_graph=False, trt_fp16=False, trt_profile=None)
