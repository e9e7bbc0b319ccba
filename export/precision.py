"""Precision variants of a transformer net: fp16 for GPUs, int8 for CPUs, each measured against fp32 before it ships.

Both use onnxruntime's own tools rather than hand-written graph surgery:
- fp16: ``onnxruntime.transformers.float16``; inputs and outputs stay float32, so callers need not care, and
  instance normalisation stays float32: its variance of 0–255-scale activations overflows half precision.
- int8: ``onnxruntime.quantization.quantize_static`` in QDQ form, calibrated on photos (min/max of each activation),
  per-channel weights. Choices measured on great-wave-light, 4 unseen photos at 640 px (benchmarks/RESULTS.md):
  quantising every convolution gave 24.7–27.7 dB; keeping the first and last convolution in float32 (the image-facing
  ones, whose errors the 150·tanh output amplifies) gave 31.8–32.7 dB; unsigned 8-bit weights (U8U8) as well gave
  32.8–34.4 dB, because signed weights saturate the 16-bit pair sums of AVX2's u8×s8 instruction on processors
  without VNNI. Instance normalisation is not quantised (onnxruntime has no int8 kernel for it).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel

from impasto.runtime.core.registry import PSNR_GOAL_DB
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.nets.transformer import TransformerModel

FP16_KEEP = ["InstanceNormalization"]
INT8_SETTINGS = {
    "format": "QDQ",
    "activations": "uint8",
    "weights": "uint8, per channel",
    "calibration": "min/max",
    "quantised": "Conv except the first and last",
}


def variant_path(fp32: Path, precision: str) -> Path:
    """``name.onnx`` → ``name.<precision>.onnx``."""
    return fp32.with_name(f"{fp32.name.removesuffix('.onnx')}.{precision}.onnx")


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)


def onnx_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in model.metadata_props}


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=FP16_KEEP)
    OnnxModel(half).topological_sort()  # the converter appends its input casts at the end of the node list
    set_metadata(half, {**onnx_metadata(model), "impasto.precision": "fp16"})
    return half


class _Photos(CalibrationDataReader):
    """The calibration photos for onnxruntime's calibrator, one batch of one each, scaled to ``side``; for a net of
    ``styles`` styles, photo i comes with style i mod N selected, so every style's activations are calibrated."""

    def __init__(self, photos: list[Path], side: int, input_name: str, styles: int = 0) -> None:
        def feeds(index: int, path: Path) -> dict[str, np.ndarray]:
            image = resize_long_side(read_image(path), side).transpose(2, 0, 1)[None].astype(np.float32)
            if not styles:
                return {input_name: image}
            return {input_name: image, "style_weights": np.eye(styles, dtype=np.float32)[index % styles][None]}

        self._feeds = iter(feeds(index, path) for index, path in enumerate(photos))

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def to_int8(fp32: Path, calibration: list[Path], side: int = 384) -> onnx.ModelProto:
    model = onnx.load(str(fp32))
    styles = onnx_metadata(model).get("impasto.styles")
    convolutions = [node.name for node in model.graph.node if node.op_type == "Conv"]
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)  # shapes and folding for the quantiser
        quantize_static(
            str(prepared),
            str(quantized),
            _Photos(calibration, side, model.graph.input[0].name, len(json.loads(styles)) if styles else 0),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=[convolutions[0], convolutions[-1]],
        )
        int8 = onnx.load(str(quantized))
    settings = {**INT8_SETTINGS, "calibration_photos": [p.stem for p in calibration], "calibration_side": side}
    set_metadata(
        int8,
        {**onnx_metadata(model), "impasto.precision": "int8", "impasto.quantization": json.dumps(settings)},
    )
    return int8


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """Of two 0–255 images after rounding to 8 bits, as they would be saved."""
    a = np.clip(reference, 0, 255).round()
    b = np.clip(other, 0, 255).round()
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@dataclass(frozen=True)
class VariantQuality:
    precision: str
    psnr_db: dict[str, float]  # per photo
    side: int
    goal_db: float = PSNR_GOAL_DB

    @property
    def worst_db(self) -> float:
        return min(self.psnr_db.values())

    @property
    def passes(self) -> bool:
        return self.worst_db >= self.goal_db

    def as_dict(self) -> dict:
        return {
            "psnr_db_min": round(self.worst_db, 2),
            "psnr_db_mean": round(float(np.mean(list(self.psnr_db.values()))), 2),
            "psnr_db": {name: round(value, 2) for name, value in self.psnr_db.items()},
            "side": self.side,
            "goal_db": self.goal_db,
            "against": "fp32",
        }


def measure_variant(
    fp32: Path, variant: Path, photos: list[Path], side: int = 640, goal_db: float = PSNR_GOAL_DB
) -> VariantQuality:
    """PSNR of the variant's stylised photos against the fp32 net's, both run by the runtime on the CPU; for a net
    of several styles, every style on every photo (``photo/style``)."""
    reference, candidate = TransformerModel(fp32), TransformerModel(variant)
    styles = reference.styles or [None]
    values = {}
    for photo in photos:
        image = resize_long_side(read_image(photo), side)
        for index, style in enumerate(styles):
            pair = (reference, candidate)
            if style is not None:
                one_hot = tuple(float(i == index) for i in range(len(styles)))
                pair = tuple(net.with_style(one_hot) for net in pair)
            key = photo.stem if style is None else f"{photo.stem}/{style}"
            values[key] = psnr(pair[0].stylize(image), pair[1].stylize(image))
    return VariantQuality(candidate.precision, values, side, goal_db)


def make_variant(
    fp32: Path,
    precision: str,
    calibration: list[Path],
    photos: list[Path],
    side: int = 640,
    calibration_side: int = 384,
    goal_db: float = PSNR_GOAL_DB,
) -> tuple[Path | None, VariantQuality]:
    """Build the variant, measure it on ``photos`` and write ``name.<precision>.onnx`` beside the fp32 file only
    if it reaches ``goal_db`` (PSNR against fp32; a file already there is left as it was otherwise); returns
    (path or None, quality)."""
    model = to_fp16(onnx.load(str(fp32))) if precision == "fp16" else to_int8(fp32, calibration, calibration_side)
    path = variant_path(fp32, precision)
    with tempfile.TemporaryDirectory(dir=fp32.parent, prefix=".impasto-") as tmp:
        candidate = Path(tmp) / path.name
        candidate.write_bytes(model.SerializeToString())
        onnx.checker.check_model(str(candidate))
        quality = measure_variant(fp32, candidate, photos, side, goal_db)
        if not quality.passes:
            return None, quality
        write_atomic(path, candidate.read_bytes())
    return path, quality
