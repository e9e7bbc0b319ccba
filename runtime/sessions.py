"""onnxruntime sessions: which provider, with which options, and one clear error for a file that is not a model.

Every command and the Python API open sessions through :class:`SessionConfig`, so the options that matter for speed
(graph optimisation and its on-disk cache, threads, cuDNN's algorithm search and workspace, CUDA graphs, TensorRT's
engine and timing caches and shape profiles) are the same everywhere, not only in ``impasto bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.errors import ImpastoError

PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
GPU_PROVIDERS = ("cuda", "tensorrt")
OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
CUDNN_ALGO_SEARCH = ("heuristic", "exhaustive", "default")
Shape = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class SessionConfig:
    """How to open a session. ``cache_dir`` keeps optimised graphs (and TensorRT engines and timing caches) so a
    second start skips that work; ``trt_profile`` is the (min, opt, max) image size TensorRT builds one engine for."""

    provider: str = "cpu"
    threads: int | None = None
    optimization: str = "all"
    cache_dir: Path | None = None
    cudnn_conv_algo_search: str = "heuristic"
    cudnn_max_workspace: bool = True
    cuda_graph: bool = False
    trt_fp16: bool = False
    trt_profile: tuple[Shape, Shape, Shape] | None = None
    memory_arena: bool = True
    profile: bool = False

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_NAMES:
            raise ImpastoError(f"unknown provider {self.provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ImpastoError(
                f"unknown optimisation level {self.optimization!r}; use {', '.join(OPTIMIZATION_LEVELS)}"
            )
        if self.cudnn_conv_algo_search not in CUDNN_ALGO_SEARCH:
            raise ImpastoError(f"unknown cuDNN algorithm search {self.cudnn_conv_algo_search!r}")
        if self.cuda_graph and self.provider not in GPU_PROVIDERS:
            raise ImpastoError("CUDA graphs need --provider cuda or tensorrt")

    def with_(self, **changes) -> SessionConfig:
        return replace(self, **changes)

    @property
    def device(self) -> str:
        """Where the provider keeps tensors: 'cuda' for the GPU providers, else 'cpu'."""
        return "cuda" if self.provider in GPU_PROVIDERS else "cpu"


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
        engines.mkdir(parents=True, exist_ok=True)
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
    check_available(config.provider)
    return provider_chain(config, image_inputs)


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


def _hardware() -> str:
    """The processor model: optimised CPU graphs (NCHWc layouts) are only valid on the processor that made them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def optimized_cache_path(path: Path, config: SessionConfig) -> Path:
    """Where the optimised copy of ``path`` for this configuration lives: keyed by the file's bytes, onnxruntime's
    version, the provider chain, the optimisation level and the processor, so a stale copy is never used."""
    key = hashlib.sha256(path.read_bytes())
    key.update(json.dumps([ort.__version__, provider_chain(config), config.optimization, _hardware()]).encode())
    return Path(config.cache_dir) / f"{path.stem}.{key.hexdigest()[:16]}.onnx"


def _model_source(
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
    cached.parent.mkdir(parents=True, exist_ok=True)
    pending = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    options.optimized_model_filepath = str(pending)
    # weights kept outside the model file (the loss graphs) are written beside the copy, under its final name
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", f"{cached.name}.data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return path, (pending, cached)


def image_input_names(path: Path) -> list[str]:
    """[B, 3, H, W] inputs of a model, the ones a TensorRT shape profile is about (read without the weights)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 — the session open below gives the one clear error for a bad file
        return []

    def is_image(value) -> bool:
        dims = value.type.tensor_type.shape.dim
        return len(dims) == 4 and dims[1].dim_value == 3

    return [value.name for value in graph.input if is_image(value)]


def static_shape_model(path: Path, shapes: dict[str, tuple[int, ...]]) -> bytes:
    """The model with its inputs fixed to ``shapes``, serialised.

    The nets' height and width are symbolic, so their upsampling sizes are computed at run time by Shape/Slice nodes,
    which onnxruntime places on the CPU, and a CUDA graph can only be captured when every node is on the GPU. With
    fixed input shapes onnxruntime's constant folding removes those nodes, so capture works for that one size.
    """
    import onnx

    model = onnx.load(str(path))  # weights kept in external files are read in too
    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name], strict=True):
                dim.Clear()
                dim.dim_value = size
    return model.SerializeToString()


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
    source, writing = (path, None) if static_shapes else _model_source(path, config, options)
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
    return session


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


SHAPE_OPS = {
    "Shape", "Slice", "Gather", "Concat", "Unsqueeze", "Squeeze", "Cast", "Reshape", "ConstantOfShape", "Mod", "Div",
}  # fmt: skip


def cpu_fallbacks(placement: Counter, provider: str) -> dict[str, int]:
    """Compute nodes that ran on the CPU although ``provider`` is a GPU provider (shape arithmetic excluded: it is
    meant to stay on the CPU). Empty for the CPU provider."""
    if provider == "cpu":
        return {}
    fallen: Counter = Counter()
    for (op, where), count in placement.items():
        if where == "CPUExecutionProvider" and op not in SHAPE_OPS:
            fallen[op] += count
    return dict(fallen)
