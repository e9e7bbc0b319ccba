"""A trained transformer net as an onnxruntime session: one pass from a photo to its stylisation.

The file must say it is a transformer net (``impasto.kind`` in its metadata) and take and return one
[B, 3, H, W] image; anything else (a loss graph, a classifier, a truncated file) is refused with one line.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.io_binding import BoundRunner
from impasto.runtime.core.providers import provider_list
from impasto.runtime.core.registry import TRANSFORMER, resolve
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.core.sessions import config_in_effect, metadata, open_session, session_options


class TransformerModel:
    """Stylises float32 RGB 0–255 images, one at a time or in batches of the same size. Thread-safe.

    ``model`` is a name (``impasto models``; a style of a net of several styles, or a blend of them as
    ``a:0.7,b:0.3``) or an ``.onnx`` path; ``precision`` picks a variant through the
    manifest (a path's variants through the manifest beside it) and is refused where it cannot be honoured.
    ``io_binding`` (default: on GPU providers) runs frames through device buffers reused from frame to frame, which
    CUDA graphs require; each thread gets buffers of its own, so concurrent callers never share an input or output
    buffer. A CUDA graph is captured per frame size, so with ``cuda_graph`` a new size reopens the session (one
    thread at a time). Raises ImpastoError for an unknown name, a missing variant or a file that is not a net.
    """

    def __init__(
        self,
        model: str | Path,
        config: SessionConfig | None = None,
        precision: str | None = None,
        io_binding: bool | None = None,
    ) -> None:
        config = config or SessionConfig()
        resolved = resolve(model, TRANSFORMER, precision)
        path = resolved.path
        # with CUDA graphs the session that runs is opened per frame size (see run); this one, without them, reads
        # the metadata (onnxruntime refuses a graph-capturing session whose shape arithmetic stays on the CPU)
        self.session = open_session(path, config.with_(cuda_graph=False) if config.cuda_graph else config)
        config = config_in_effect(self.session, config)
        meta = metadata(self.session)
        kind = meta.get("impasto.kind")
        if kind != TRANSFORMER:
            what = f"its metadata says kind={kind!r}" if kind else "it has no Impasto metadata"
            raise ImpastoError(f"{path}: not an Impasto transformer net ({what})")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.styles: list[str] = json.loads(meta.get("impasto.styles", "[]"))  # a net of several styles
        wanted = 2 if self.styles else 1
        if len(inputs) != wanted or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3 or len(outputs) != 1:
            extra = " and its style weights" if self.styles else ""
            raise ImpastoError(f"{path}: expected one [B, 3, H, W] image{extra} in and one image out")
        default = tuple(1.0 if i == 0 else 0.0 for i in range(len(self.styles))) if self.styles else None
        self.style_weights: tuple[float, ...] | None = resolved.style_weights or default
        self.path = path
        self.name = meta.get("impasto.name", path.stem)
        if resolved.style_weights is not None:  # a style or a blend of a net of several styles: named as asked
            self.name = str(model)
        self.config = config
        self.precision = meta.get("impasto.precision", resolved.key)
        self.io_binding = config.device != "cpu" if io_binding is None else io_binding
        if config.cuda_graph and not self.io_binding:
            raise ImpastoError("CUDA graphs need IO binding")
        self._local = threading.local()  # per-thread IO-binding runners
        self._graph_lock = threading.Lock()  # CUDA-graph sessions are reopened per size: one thread at a time
        self._global_norm = None
        self._global_norm_lock = threading.Lock()
        self.metadata = meta
        self.input_name = inputs[0].name
        self.min_side = int(meta.get("impasto.min_side", "16"))
        self.architecture = json.loads(meta.get("impasto.architecture", "{}")).get("name", "?")

    def global_norm(self):
        """The rewritten graphs that tiling needs (built on first use; only then is onnx imported)."""
        from impasto.runtime.nets.global_norm import GlobalNormNet

        with self._global_norm_lock:
            if self._global_norm is None:
                config = self.config.with_(cuda_graph=False, cache_dir=None)
                self._global_norm = GlobalNormNet(self.path, session_options(config), provider_list(config))
            return self._global_norm

    def _runner(self) -> BoundRunner:
        runner = getattr(self._local, "runner", None)
        if runner is None or runner.session is not self.session:
            runner = BoundRunner(self.session, self.config.device, output_like_input=True)
            self._local.runner = runner
        return runner

    def feeds(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs for an image batch: the image, and for a net of several styles the style weights
        ([B, N] float32) of this model's style or blend."""
        return {self.input_name: np.ascontiguousarray(batch, dtype=np.float32), **self.style_feeds(len(batch))}

    def style_feeds(self, batch_size: int = 1) -> dict[str, np.ndarray]:
        """``{"style_weights": [B, N]}`` for a net of several styles, else nothing."""
        if not self.styles:
            return {}
        return {"style_weights": np.tile(np.asarray(self.style_weights, np.float32), (batch_size, 1))}

    def with_style(self, weights: tuple[float, ...], name: str | None = None) -> TransformerModel:
        """The same session (no new one is opened) with another style or blend of a net of several styles."""
        if not self.styles or len(weights) != len(self.styles):
            raise ImpastoError(f"{self.name} has {len(self.styles)} styles; {len(weights)} weights given")
        other = copy.copy(self)
        other.style_weights = tuple(float(w) for w in weights)
        other.name = name or self.name
        other._local = threading.local()
        return other

    def run(self, batch: np.ndarray) -> np.ndarray:
        """[B, 3, H, W] float32 → [B, 3, H, W] float32 in 0–255."""
        feeds = self.feeds(batch)
        batch = feeds[self.input_name]
        if not self.io_binding:
            return self.session.run(None, feeds)[0]
        if not self.config.cuda_graph:
            return self._runner().run(feeds)[0]
        with self._graph_lock:
            runner = getattr(self, "_graph_runner", None)
            if runner is None or runner.shapes.get(self.input_name) != batch.shape:
                # a captured graph is for one shape only: a session with that shape fixed, per new frame size
                session = open_session(self.path, self.config, {name: v.shape for name, v in feeds.items()})
                runner = self._graph_runner = BoundRunner(session, self.config.device, output_like_input=True)
            return runner.run(feeds)[0]

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """H×W×3 → H×W×3 float32 0–255, in one pass (no tiling; see :class:`Stylizer` for the whole path)."""
        return self.stylize_batch([image])[0]

    def stylize_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Several H×W×3 images of one size in one session run; ImpastoError for a side below ``min_side``."""
        shape = images[0].shape
        if any(image.shape != shape for image in images):
            raise ValueError("a batch needs images of one size")
        if min(shape[:2]) < self.min_side:
            raise ImpastoError(f"image is {shape[1]}×{shape[0]}; {self.name} needs at least {self.min_side} px a side")
        out = self.run(np.stack(images).transpose(0, 3, 1, 2))
        return list(out.transpose(0, 2, 3, 1))
