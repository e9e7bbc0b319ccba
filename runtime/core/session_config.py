"""How to open an onnxruntime session: provider, threads, optimisation, caches, cuDNN, CUDA graphs, TensorRT.

Every command and the Python API open sessions through :class:`SessionConfig`, so the options that matter for speed
are the same everywhere, not only in ``impasto bench``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import onnxruntime as ort

from impasto.runtime.core.errors import ImpastoError

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
    allow_fallback: bool = False  # run on what onnxruntime fell back to (with a warning) instead of refusing

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_NAMES:
            raise ImpastoError(f"unknown provider {self.provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ImpastoError(
                f"unknown optimisation level {self.optimization!r}; use {', '.join(OPTIMIZATION_LEVELS)}"
            )
        if self.cudnn_conv_algo_search not in CUDNN_ALGO_SEARCH:
            raise ImpastoError(f"unknown cuDNN algorithm search {self.cudnn_conv_algo_search!r}")
        if self.cache_dir is not None and str(self.cache_dir) == "-":
            raise ImpastoError("--cache-dir -: a cache is a folder, not stdout; name a folder")
        if self.cache_dir is not None and Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise ImpastoError(f"--cache-dir {self.cache_dir}: exists and is not a folder")
        if self.cuda_graph and self.provider not in GPU_PROVIDERS:
            raise ImpastoError("CUDA graphs need --provider cuda or tensorrt")

    def with_(self, **changes) -> SessionConfig:
        return replace(self, **changes)

    @property
    def device(self) -> str:
        """Where the provider keeps tensors: 'cuda' for the GPU providers, else 'cpu'."""
        return "cuda" if self.provider in GPU_PROVIDERS else "cpu"
