"""Impasto: neural style transfer on onnxruntime. ``impasto.runtime`` runs without PyTorch; ``impasto.export``
(PyTorch) builds the graphs and trains the nets; ``impasto.models`` holds what is shipped.

This file is the ``impasto`` package itself (pyproject.toml maps it here, so the repository's top level stays
export/, runtime/, models/); it only says which version is installed.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("impasto")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
