"""The exported Gatys graphs as one object: targets from images, loss and gradient for an image.

Everything about the graphs — layers, pooling, default weights, the smallest usable image side, which features
file pairs with which loss file — is read from the ONNX metadata written at export time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.io_binding import BoundRunner
from impasto.runtime.core.registry import FEATURES, LOSS, resolve
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.core.sessions import config_in_effect, metadata, open_session
from impasto.runtime.gatys.settings import DEFAULT_MODEL

LOSS_KIND, FEATURES_KIND = LOSS, FEATURES

CONTENT_PREFIX, STYLE_PREFIX = "content_target_", "style_target_"
Targets = dict[str, np.ndarray]


@dataclass(frozen=True)
class LossWeights:
    """α, β, γ of the total loss and the per-layer weights c_l and w_l."""

    content: float
    style: float
    tv: float
    content_layers: tuple[float, ...]
    style_layers: tuple[float, ...]

    def feeds(self) -> dict[str, np.ndarray]:
        return {
            "content_weight": np.array(self.content, np.float32),
            "style_weight": np.array(self.style, np.float32),
            "tv_weight": np.array(self.tv, np.float32),
            "content_layer_weights": np.array(self.content_layers, np.float32),
            "style_layer_weights": np.array(self.style_layers, np.float32),
        }


@dataclass(frozen=True)
class Evaluation:
    loss: float
    content: float
    style: float
    tv: float
    grad: np.ndarray  # [1, 3, H, W] float32, d loss / d image


def to_nchw(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def to_hwc(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[0].transpose(1, 2, 0))


class GatysLossModel:
    """A features session (targets) and a loss session (loss + gradient) that belong together.

    On the CPU the loss session keeps onnxruntime's memory arena, which saves allocating (and page-faulting) fresh
    buffers at every evaluation: 7–18 % per evaluation (benchmarks/RESULTS.md). It shrinks the arena after the first
    evaluation at a new image size, so a multi-scale run does not keep each scale's high-water blocks: a 1024-px
    optimisation peaked at 2.6 GiB, 2.5 GiB without the arena, 4.4 GiB with one never shrunk. The features session,
    run once per image, has no arena.
    """

    def __init__(
        self, model: str | Path = DEFAULT_MODEL, config: SessionConfig | None = None, io_binding: bool | None = None
    ) -> None:
        """``io_binding``: keep the targets on the device between evaluations (default: on GPU providers, where
        copying five Gram matrices and a feature map to the GPU at every L-BFGS step would cost more than the
        step; on the CPU numpy arrays are used in place anyway)."""
        config = (config or SessionConfig()).with_(memory_arena=False)
        arena = config.provider == "cpu"  # the shrink below names the CPU arena; other providers keep it off
        path = resolve(model, LOSS, "loss").path
        session = open_session(path, config.with_(memory_arena=arena))
        config = config_in_effect(session, config)  # the CPU's, when --allow-fallback let onnxruntime fall back
        opener = partial(open_session, config=config)
        meta = metadata(session)
        kind = meta.get("impasto.kind")
        features = None
        if kind == FEATURES_KIND:  # the user named the other half of the pair: open it without arena, and its partner
            features, path = opener(path) if arena else session, path.parent / meta["impasto.pair"]
            session = open_session(path, config.with_(memory_arena=arena))
            meta = metadata(session)
            kind = meta.get("impasto.kind")
        if kind != LOSS_KIND:
            raise ImpastoError(f"{path}: not an Impasto Gatys loss graph (its metadata says kind={kind!r})")
        self.path = path
        self.provider = config.provider
        self.loss_session = session
        self._shrink = _shrink_options() if arena else None
        self._last_shape: tuple[int, ...] | None = None
        self.features_session = features or opener(path.parent / meta["impasto.pair"])
        if metadata(self.features_session).get("impasto.kind") != FEATURES_KIND:
            raise ImpastoError(f"{path.parent / meta['impasto.pair']}: not the features graph that pairs with {path}")
        self.metadata = meta
        self.content_layers: list[str] = json.loads(meta["impasto.content_layers"])
        self.style_layers: list[str] = json.loads(meta["impasto.style_layers"])
        self.pooling = meta["impasto.pooling"]
        self.min_side = int(meta["impasto.min_side"])
        self.weights_source = meta["impasto.weights_source"]
        defaults = json.loads(meta["impasto.defaults"])
        self.default_weights = LossWeights(
            content=defaults["content_weight"],
            style=defaults["style_weight"],
            tv=defaults["tv_weight"],
            content_layers=tuple(defaults["content_layer_weights"]),
            style_layers=tuple(defaults["style_layer_weights"]),
        )
        self.target_names = [output.name for output in self.features_session.get_outputs()]
        on_device = config.device != "cpu" if io_binding is None else io_binding
        self._bound = BoundRunner(self.loss_session, config.device) if on_device else None
        self._bound_for: tuple[Targets, LossWeights] | None = None  # what the device holds besides the image
        loss_inputs = {item.name for item in self.loss_session.get_inputs()}
        if not set(self.target_names) <= loss_inputs:
            raise ImpastoError(f"{path}: its features graph produces targets the loss graph does not take")

    def weights(self, content: float | None = None, style: float | None = None, tv: float | None = None) -> LossWeights:
        """The model's default weights with any of α, β, γ replaced."""
        chosen = {"content": content, "style": style, "tv": tv}
        return replace(self.default_weights, **{k: float(v) for k, v in chosen.items() if v is not None})

    def targets(self, image: np.ndarray) -> Targets:
        """Content features and per-position style Grams of an H×W×3 RGB 0–255 image."""
        values = self.features_session.run(None, {"image": to_nchw(image)})
        return dict(zip(self.target_names, values, strict=True))

    def evaluate(self, image: np.ndarray, targets: Targets, weights: LossWeights) -> Evaluation:
        """Loss parts and gradient for a [1, 3, H, W] image; content targets must come from an image of its size."""
        if self._bound is None:
            feeds = {"image": image, **targets, **weights.feeds()}
            new_size, self._last_shape = image.shape != self._last_shape, image.shape
            loss, content, style, tv, grad = self.loss_session.run(None, feeds, self._shrink if new_size else None)
            return Evaluation(float(loss), float(content), float(style), float(tv), grad)
        held = self._bound_for
        if held is not None and held[0] is targets and held[1] == weights:
            feeds = {"image": image}  # the targets are on the device already: only the image changes per step
        else:
            feeds = {"image": image, **targets, **weights.feeds()}
            self._bound_for = (targets, weights)
        *parts, grad = self._bound.run(feeds)  # IO binding hands scalars back as shape (1,)
        loss, content, style, tv = (part.item() for part in parts)
        return Evaluation(loss, content, style, tv, grad)


def _shrink_options() -> ort.RunOptions:
    """Run options that hand the CPU arena's unused blocks back to the system when the run ends."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def blend_targets(content: Targets, styles: list[Targets], blend: list[float]) -> Targets:
    """Content targets of one image and the blend-weighted average of several styles' Gram targets.

    Matching the weighted mean of the Grams has the same gradient as the weighted sum of per-style losses
    (their difference is a constant), at the cost of one.
    """
    total = float(sum(blend))
    merged = {name: value for name, value in content.items() if name.startswith(CONTENT_PREFIX)}
    for name in styles[0]:
        if name.startswith(STYLE_PREFIX):
            merged[name] = sum(b / total * style[name] for b, style in zip(blend, styles, strict=True)).astype(
                np.float32
            )
    return merged
