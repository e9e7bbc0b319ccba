"""Transformer nets to ONNX: dynamic batch, height and width, metadata in the file, and an fp16 copy for GPUs.

The fp16 copy is made with onnxruntime's own float16 converter (inputs and outputs stay float32, so callers need
not care). Instance normalisation stays in float32 there: its variance of 0–255-scale activations overflows
half precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel
from torch.export import Dim

from impasto.export.transformer import ClampedNet, TransformerNet
from impasto.runtime.images import write_atomic

MIN_SIDE = 16
FP32_KEEP = ["InstanceNormalization"]
INPUT_DOC = "image: float32 [B, 3, H, W], RGB, 0-255"
OUTPUT_DOC = "stylized: float32 [B, 3, H, W], RGB, 0-255"


def _set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=f"impasto.{key}", value=value)


def export_transformer(net: TransformerNet, path: Path, metadata: dict[str, str], opset: int = 18) -> list[Path]:
    """Write ``path`` (float32) and ``<stem>.fp16.onnx`` beside it; returns both paths."""
    if opset not in (17, 18):
        raise ValueError("opset must be 17 or 18 (onnxruntime's CUDA provider lacks kernels in newer ones)")
    net = net.to("cpu").eval()
    example = torch.rand(1, 3, 64, 80) * 255
    batch = Dim("batch", min=1, max=1024)
    height, width = Dim("height", min=MIN_SIDE, max=16384), Dim("width", min=MIN_SIDE, max=16384)
    program = torch.onnx.export(
        ClampedNet(net).eval(),
        (example,),
        dynamo=True,
        opset_version=opset,
        input_names=["image"],
        output_names=["stylized"],
        dynamic_shapes=({0: batch, 2: height, 3: width},),
        verbose=False,
    )
    model = program.model_proto
    common = {
        **metadata,
        "kind": "transformer",
        "architecture": json.dumps(net.architecture.as_dict()),
        "min_side": str(MIN_SIDE),
        "input": INPUT_DOC,
        "output": OUTPUT_DOC,
        "exporter": f"torch {torch.__version__}, opset {opset}",
    }
    _set_metadata(model, {**common, "precision": "fp32"})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, model.SerializeToString())
    onnx.checker.check_model(str(path))

    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=FP32_KEEP)
    OnnxModel(half).topological_sort()  # the converter appends its input casts at the end of the node list
    _set_metadata(half, {**common, "precision": "fp16"})
    half_path = path.with_name(f"{path.name.removesuffix('.onnx')}.fp16.onnx")
    write_atomic(half_path, half.SerializeToString())
    onnx.checker.check_model(str(half_path))
    return [path, half_path]
