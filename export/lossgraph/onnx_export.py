"""Exports the features graph and the loss+gradient graph to ONNX, with metadata and shared weight files.

The loss graph's gradient is traced with ``make_fx`` through autograd, with the backward ops decomposed into
plain ops (``decompositions.py``), and handed to torch's stock ONNX exporter. Height and width stay symbolic,
so one file serves every image size. Both graphs of a pair, and every pair in a folder, point their VGG16
weights at the same external files under ``weights/`` (one per layer, each well under 20 MiB), so shipping
average- and max-pooling graphs costs the weights once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from onnx.external_data_helper import set_external_data
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx

from impasto.export.lossgraph.decompositions import backward_decompositions
from impasto.export.lossgraph.losses import FeatureTargets, StyleTransferLoss
from impasto.export.lossgraph.vgg import LAYER_NAMES, Pooling, VGGFeatures, check_layers
from impasto.export.lossgraph.weights import VGGWeights
from impasto.export.opsets import check_opset

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
FORMULAS = (
    "content = sum_l c_l * sum (F_l - P_l)^2; "
    "style = sum_l w_l * E_l, E_l = 1/(4 N_l^2 M_l^2) sum (G_l - A_l)^2, G = F F^T, A_l = M_l * style_target_l "
    "(style targets are Gram matrices per position); "
    "tv = sum (x[i+1,j]-x[i,j])^2 + sum (x[i,j+1]-x[i,j])^2 on RGB 0-255; "
    "loss = content_weight*content + style_weight*style + tv_weight*tv; grad = d loss / d image"
)
IMAGE_DOC = "image: float32 [1, 3, H, W], RGB, 0-255"
WEIGHTS_DIR = "weights"


@dataclass
class LossGraphSpec:
    """What a loss-graph pair computes, and the weights the runtime starts from (recorded in the metadata)."""

    content_layers: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    pooling: Pooling = "avg"
    opset: int = 18
    content_weight: float = 1.0
    style_weight: float = 1e4
    tv_weight: float = 1e-3

    def __post_init__(self) -> None:
        check_layers(self.content_layers, "content")
        check_layers(self.style_layers, "style")
        check_opset(self.opset)

    @property
    def min_side(self) -> int:
        """Smallest image side for which every requested layer still has at least one position."""
        deepest = max(LAYER_NAMES.index(name) for name in self.content_layers + self.style_layers)
        return 2 ** sum(1 for name in LAYER_NAMES[:deepest] if name.startswith("pool"))


@dataclass(frozen=True)
class ExportedPair:
    features: Path
    loss: Path


def content_input(layer: str) -> str:
    return f"content_target_{layer}"


def style_input(layer: str) -> str:
    return f"style_target_{layer}"


WEIGHT_INPUTS = ("content_weight", "style_weight", "tv_weight", "content_layer_weights", "style_layer_weights")
LOSS_OUTPUTS = ("loss", "content_loss", "style_loss", "tv_loss", "grad")


def _example_image(spec: LossGraphSpec) -> torch.Tensor:
    side = max(4 * spec.min_side, 64)
    return torch.rand(1, 3, side + 3, side + 7) * 255  # odd sides so nothing specialises to even sizes


def _metadata(spec: LossGraphSpec, weights: VGGWeights, kind: str, name: str, pair: str) -> dict[str, str]:
    defaults = {
        "content_weight": spec.content_weight,
        "style_weight": spec.style_weight,
        "tv_weight": spec.tv_weight,
        "content_layer_weights": [1.0] * len(spec.content_layers),
        "style_layer_weights": [1.0 / len(spec.style_layers)] * len(spec.style_layers),
    }
    return {
        "impasto.kind": kind,
        "impasto.name": name,
        "impasto.pair": pair,
        "impasto.pooling": spec.pooling,
        "impasto.content_layers": json.dumps(spec.content_layers),
        "impasto.style_layers": json.dumps(spec.style_layers),
        "impasto.min_side": str(spec.min_side),
        "impasto.weights_source": weights.source,
        "impasto.preprocess": json.dumps(weights.preprocess.as_dict()),
        "impasto.formulas": FORMULAS,
        "impasto.defaults": json.dumps(defaults),
        "impasto.input": IMAGE_DOC,
        "impasto.exporter": f"torch {torch.__version__}, opset {spec.opset}",
    }


def _trace_loss_and_grad(loss: StyleTransferLoss, example: tuple[torch.Tensor, ...], n_content: int, n_style: int):
    def loss_and_grad(image, *rest):
        content = rest[:n_content]
        style = rest[n_content : n_content + n_style]
        scalars = rest[n_content + n_style :]
        image = image.detach().requires_grad_(True)
        with torch.enable_grad():
            total, content_loss, style_loss, tv_loss = loss(image, content, style, *scalars)
            (grad,) = torch.autograd.grad(total, image)
        return total.detach(), content_loss.detach(), style_loss.detach(), tv_loss.detach(), grad

    return make_fx(
        loss_and_grad,
        decomposition_table=backward_decompositions(),
        tracing_mode="symbolic",
        _allow_non_fake_inputs=True,
    )(*example)


def _share_weights(model: onnx.ModelProto, weights: VGGWeights, out_dir: Path) -> None:
    """Point initializers that hold a VGG16 tensor at ``weights/<layer>.bin`` instead of storing them inline."""
    shared: dict[bytes, tuple[str, bytes, int, int]] = {}
    for layer, (weight, bias) in weights.convs.items():
        raws = [t.detach().float().contiguous().numpy().tobytes() for t in (weight, bias)]
        blob, location = b"".join(raws), f"{WEIGHTS_DIR}/{layer}.bin"
        shared[hashlib.sha256(raws[0]).digest()] = (location, blob, 0, len(raws[0]))
        shared[hashlib.sha256(raws[1]).digest()] = (location, blob, len(raws[0]), len(raws[1]))
    written: set[str] = set()
    for tensor in model.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or not tensor.raw_data:
            continue
        found = shared.get(hashlib.sha256(tensor.raw_data).digest())
        if not found:
            continue
        location, blob, offset, length = found
        target = out_dir / location
        if location not in written and (not target.is_file() or target.read_bytes() != blob):
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, blob)
        written.add(location)
        set_external_data(tensor, location=location, offset=offset, length=length)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _finish(program, metadata: dict[str, str], weights: VGGWeights, out_dir: Path, path: Path) -> None:
    model = program.model_proto
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    _share_weights(model, weights, out_dir)
    _atomic_write(path, model.SerializeToString())
    onnx.checker.check_model(str(path), full_check=False)


def export_loss_graphs(weights: VGGWeights, spec: LossGraphSpec, out_dir: str | Path, name: str) -> ExportedPair:
    """Write ``<name>.features.onnx`` and ``<name>.loss.onnx`` (plus shared weights) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vgg = VGGFeatures(weights.convs, weights.preprocess, spec.content_layers + spec.style_layers, spec.pooling).eval()
    features_path, loss_path = out_dir / f"{name}.features.onnx", out_dir / f"{name}.loss.onnx"
    height, width = Dim("height", min=spec.min_side, max=16384), Dim("width", min=spec.min_side, max=16384)
    image = _example_image(spec)
    target_names = [content_input(layer) for layer in spec.content_layers] + [
        style_input(layer) for layer in spec.style_layers
    ]

    features = FeatureTargets(vgg, spec.content_layers, spec.style_layers).eval()
    program = torch.onnx.export(
        features,
        (image,),
        dynamo=True,
        opset_version=spec.opset,
        input_names=["image"],
        output_names=target_names,
        dynamic_shapes=({2: height, 3: width},),
        verbose=False,
    )
    _finish(program, _metadata(spec, weights, "gatys-features", name, loss_path.name), weights, out_dir, features_path)

    with torch.no_grad():
        targets = features(image)
    n_content, n_style = len(spec.content_layers), len(spec.style_layers)
    scalars = (
        torch.tensor(spec.content_weight),
        torch.tensor(spec.style_weight),
        torch.tensor(spec.tv_weight),
        torch.ones(n_content),
        torch.full((n_style,), 1.0 / n_style),
    )
    example = (image, *targets, *scalars)
    traced = _trace_loss_and_grad(
        StyleTransferLoss(vgg, spec.content_layers, spec.style_layers), example, n_content, n_style
    )
    dynamic = ({2: height, 3: width},) + tuple({2: Dim.AUTO, 3: Dim.AUTO} for _ in range(n_content))
    dynamic += (None,) * (n_style + len(scalars))
    program = torch.onnx.export(
        traced,
        example,
        dynamo=True,
        opset_version=spec.opset,
        input_names=["image", *target_names, *WEIGHT_INPUTS],
        output_names=list(LOSS_OUTPUTS),
        dynamic_shapes=dynamic,
        verbose=False,
    )
    _finish(program, _metadata(spec, weights, "gatys-loss", name, features_path.name), weights, out_dir, loss_path)
    return ExportedPair(features=features_path, loss=loss_path)
