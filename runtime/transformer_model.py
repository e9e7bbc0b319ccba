"""A trained transformer net as an onnxruntime session: one pass from a photo to its stylisation.

The file must say it is a transformer net (``impasto.kind`` in its metadata) and take and return one
[B, 3, H, W] image; anything else (a loss graph, a classifier, a truncated file) is refused with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from impasto.runtime.errors import ImpastoError
from impasto.runtime.io_binding import BoundRunner
from impasto.runtime.manifest import read_manifest, resolve_model_file, shipped_models_dir
from impasto.runtime.sessions import SessionConfig, metadata, open_session, provider_list, session_options

TRANSFORMER_KIND = "transformer"


def transformer_names(folder: Path | None = None) -> list[str]:
    return [m["name"] for m in read_manifest(folder)["models"] if m.get("kind") == TRANSFORMER_KIND]


def default_transformer() -> str:
    names = transformer_names()
    if not names:
        raise ImpastoError(f"no transformer nets are shipped in {shipped_models_dir()}; name a file with --model")
    return names[0]


def resolve_transformer_path(model: str | Path, precision: str = "fp32") -> Path:
    """A manifest name (``starry-night-light``) or a path to an ``.onnx`` file."""
    return resolve_model_file(model, TRANSFORMER_KIND, "a transformer net", precision)


class TransformerModel:
    """Stylises float32 RGB 0–255 images, one at a time or in batches of the same size.

    On a GPU provider the frames go through IO binding (device buffers reused from frame to frame), which CUDA
    graphs require; a graph is captured per frame size, so with ``cuda_graph`` a new size reopens the session.
    """

    def __init__(self, model: str | Path, config: SessionConfig | None = None, precision: str = "fp32") -> None:
        config = config or SessionConfig()
        path = resolve_transformer_path(model, precision)
        # with CUDA graphs the session that runs is opened per frame size (see run); this one, without them, reads
        # the metadata (onnxruntime refuses a graph-capturing session whose shape arithmetic stays on the CPU)
        self.session = open_session(path, config.with_(cuda_graph=False) if config.cuda_graph else config)
        meta = metadata(self.session)
        kind = meta.get("impasto.kind")
        if kind != TRANSFORMER_KIND:
            what = f"its metadata says kind={kind!r}" if kind else "it has no Impasto metadata"
            raise ImpastoError(f"{path}: not an Impasto transformer net ({what})")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3 or len(outputs) != 1:
            raise ImpastoError(f"{path}: expected one [B, 3, H, W] image in and one out")
        self.path = path
        self.name = meta.get("impasto.name", path.stem)
        self.config = config
        self.precision = meta.get("impasto.precision", precision)
        self._bound = (
            BoundRunner(self.session, config.device, output_like_input=True) if config.device != "cpu" else None
        )
        self._global_norm = None
        self.metadata = meta
        self.input_name = inputs[0].name
        self.min_side = int(meta.get("impasto.min_side", "16"))
        self.architecture = json.loads(meta.get("impasto.architecture", "{}")).get("name", "?")

    def global_norm(self):
        """The rewritten graphs that tiling needs (built on first use; only then is onnx imported)."""
        from impasto.runtime.global_norm import GlobalNormNet

        if self._global_norm is None:
            config = self.config.with_(cuda_graph=False, cache_dir=None)
            self._global_norm = GlobalNormNet(self.path, session_options(config), provider_list(config))
        return self._global_norm

    def run(self, batch: np.ndarray) -> np.ndarray:
        """[B, 3, H, W] float32 → [B, 3, H, W] float32 in 0–255."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._bound is None:
            return self.session.run(None, {self.input_name: batch})[0]
        if self.config.cuda_graph and self._bound.shapes.get(self.input_name) != batch.shape:
            # a captured graph is for one shape only: a session with that shape fixed, per new frame size
            self.session = open_session(self.path, self.config, {self.input_name: batch.shape})
            self._bound = BoundRunner(self.session, self.config.device, output_like_input=True)
        return self._bound.run({self.input_name: batch})[0]

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """H×W×3 → H×W×3, in one pass."""
        return self.stylize_batch([image])[0]

    def stylize_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Several H×W×3 images of one size in one session run."""
        shape = images[0].shape
        if any(image.shape != shape for image in images):
            raise ValueError("a batch needs images of one size")
        if min(shape[:2]) < self.min_side:
            raise ImpastoError(f"image is {shape[1]}×{shape[0]}; {self.name} needs at least {self.min_side} px a side")
        out = self.run(np.stack(images).transpose(0, 3, 1, 2))
        return list(out.transpose(0, 2, 3, 1))
