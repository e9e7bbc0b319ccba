"""Transformer nets to ONNX: dynamic batch, height and width, metadata in the file, and an fp16 copy for GPUs.

The fp16 copy is made by ``impasto.export.precision`` (onnxruntime's float16 converter, instance normalisation
kept in float32); ``impasto export precision`` adds the int8 variant and measures both against fp32.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from torch.export import Dim

from impasto.export.opsets import check_opset
from impasto.export.precision import set_metadata, to_fp16, variant_path
from impasto.export.training.transformer import BORDER, ClampedNet, TransformerNet
from impasto.runtime.media.encode import write_atomic

MIN_SIDE = 16
INPUT_DOC = "image: float32 [B, 3, H, W], RGB, 0-255"
STYLES_DOC = "style_weights: float32 [B, N]; one-hot selects a style, other weights blend them"
OUTPUT_DOC = "stylized: float32 [B, 3, H, W], RGB, 0-255"


def export_transformer(net: TransformerNet, path: Path, metadata: dict[str, str], opset: int = 18) -> list[Path]:
    """Write ``path`` (float32) and ``<stem>.fp16.onnx`` beside it; returns both paths."""
    check_opset(opset)
    net = net.to("cpu").eval()
    styles = net.architecture.styles
    batch = Dim("batch", min=1, max=1024)
    height, width = Dim("height", min=MIN_SIDE, max=16384), Dim("width", min=MIN_SIDE, max=16384)
    example: tuple = (torch.rand(1, 3, 64, 80) * 255,)
    names, shapes = ["image"], [{0: batch, 2: height, 3: width}]
    if styles:  # a net of several styles: the weights are a second input, batched with the images
        example += (torch.full((1, styles), 1.0 / styles),)
        names.append("style_weights")
        shapes.append({0: batch})
    program = torch.onnx.export(
        ClampedNet(net, BORDER).eval(),
        example,
        dynamo=True,
        opset_version=opset,
        input_names=names,
        output_names=["stylized"],
        dynamic_shapes=tuple(shapes),
        verbose=False,
    )
    model = program.model_proto
    common = {
        **metadata,
        "kind": "transformer",
        "architecture": json.dumps(net.architecture.as_dict()),
        "min_side": str(MIN_SIDE),
        "border": str(BORDER),  # px of reflection the graph adds around the image (and crops) against dark frames
        "input": INPUT_DOC + (f"; {STYLES_DOC}" if styles else ""),
        "output": OUTPUT_DOC,
        "exporter": f"torch {torch.__version__}, opset {opset}",
    }
    set_metadata(model, {f"impasto.{key}": value for key, value in {**common, "precision": "fp32"}.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, model.SerializeToString())
    onnx.checker.check_model(str(path))

    half_path = variant_path(path, "fp16")
    half = to_fp16(model)
    write_atomic(half_path, half.SerializeToString())
    onnx.checker.check_model(str(half_path))
    return [path, half_path]
