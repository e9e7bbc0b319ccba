"""Impasto runtime: style transfer on onnxruntime and OpenCV, without PyTorch.

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize, read_image, write_image
model = GatysLossModel("vgg16-avg")
result = optimize(model, read_image("photo.jpg"), [read_image("painting.jpg")], OptimizeSettings(size=512))
write_image("out.png", result.image)
"""

from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import read_image, write_image
from impasto.runtime.loss_model import GatysLossModel, LossWeights
from impasto.runtime.optimize import OptimizeResult, OptimizeSettings, optimize

__all__ = [
    "GatysLossModel",
    "ImpastoError",
    "LossWeights",
    "OptimizeResult",
    "OptimizeSettings",
    "optimize",
    "read_image",
    "write_image",
]
