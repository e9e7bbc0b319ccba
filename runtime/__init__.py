"""Impasto runtime: style transfer on onnxruntime and OpenCV, without PyTorch.

from impasto.runtime import Stylizer, read_image, write_image
stylizer = Stylizer("great-wave")                      # a shipped feed-forward net, or an .onnx path
write_image("out.jpg", stylizer.stylize(read_image("photo.jpg"), size=1024, preserve_color=True))
fast = Stylizer("great-wave", SessionConfig(provider="cuda", cuda_graph=True), precision="fp16")

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize
model = GatysLossModel("vgg16-avg")
result = optimize(model, read_image("photo.jpg"), [read_image("painting.jpg")], OptimizeSettings(size=512))
write_image("out.png", result.image)

Layout (imports flow one way, top to bottom): ``cli`` → ``serve``, ``bench``, ``deploy`` → ``nets``, ``gatys`` →
``media`` → ``core``.
"""

import impasto.runtime.media  # noqa: F401 — first: Pillow's guard and the HEIC opener, before any image is read
from impasto import __version__
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.gatys.loss_model import GatysLossModel, LossWeights
from impasto.runtime.gatys.optimize import OptimizeInterrupted, OptimizeResult, optimize
from impasto.runtime.gatys.settings import OptimizeSettings
from impasto.runtime.media.decode import ImageTooLarge, decode_image, read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.nets.stylizer import FrameStream, StylizeOptions, Stylizer
from impasto.runtime.nets.temporal import TemporalBlender
from impasto.runtime.nets.tiling import stylize_large
from impasto.runtime.nets.transformer import TransformerModel

__all__ = [
    "FrameStream",
    "GatysLossModel",
    "ImageTooLarge",
    "ImpastoError",
    "LossWeights",
    "OptimizeInterrupted",
    "OptimizeResult",
    "OptimizeSettings",
    "SessionConfig",
    "StylizeOptions",
    "Stylizer",
    "TemporalBlender",
    "TransformerModel",
    "__version__",
    "decode_image",
    "optimize",
    "read_image",
    "stylize_large",
    "write_image",
]
