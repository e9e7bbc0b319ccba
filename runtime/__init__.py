"""Impasto runtime: style transfer on onnxruntime and OpenCV, without PyTorch.

from impasto.runtime import TransformerModel, read_image, stylize_large, write_image
net = TransformerModel("great-wave-light")                   # a shipped feed-forward net, or an .onnx path
fast = TransformerModel("great-wave-light", SessionConfig(provider="cuda", cuda_graph=True), precision="fp16")
write_image("out.jpg", stylize_large(net, read_image("photo.jpg")))  # tiled when larger than 1024 px

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize
model = GatysLossModel("vgg16-avg")
result = optimize(model, read_image("photo.jpg"), [read_image("painting.jpg")], OptimizeSettings(size=512))
write_image("out.png", result.image)
"""

from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import read_image, write_image
from impasto.runtime.loss_model import GatysLossModel, LossWeights
from impasto.runtime.optimize import OptimizeResult, OptimizeSettings, optimize
from impasto.runtime.sessions import SessionConfig
from impasto.runtime.temporal import TemporalBlender
from impasto.runtime.tiling import stylize_large
from impasto.runtime.transformer_model import TransformerModel

__all__ = [
    "GatysLossModel",
    "ImpastoError",
    "LossWeights",
    "OptimizeResult",
    "OptimizeSettings",
    "SessionConfig",
    "TemporalBlender",
    "TransformerModel",
    "optimize",
    "read_image",
    "stylize_large",
    "write_image",
]
