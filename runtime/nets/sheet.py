"""A contact sheet: one photo in every shipped style (and a few blends of the nets of several styles), labelled —
how a user chooses a style."""

from __future__ import annotations

import math

import cv2
import numpy as np

from impasto.runtime.core.registry import TRANSFORMER, all_entries
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.nets.stylizer import StylizerCache

LABEL_HEIGHT = 28  # px of caption under each panel
BACKGROUND = 255.0


def sheet_models(blends: int = 3) -> list[str]:
    """What a sheet shows: every one-style net, every style of each net of several styles, and up to ``blends``
    half-and-half blends of neighbouring styles of those nets."""
    models, mixed = [], []
    for entry in all_entries(TRANSFORMER):
        if entry.styles:
            models += entry.styles
            mixed += [f"{a}:0.5,{b}:0.5" for a, b in zip(entry.styles, entry.styles[1:], strict=False)]
        else:
            models.append(entry.name)
    return models + mixed[:blends]


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    """The panel with ``text`` written in a white band below it."""
    band = np.full((LABEL_HEIGHT, panel.shape[1], 3), BACKGROUND, np.uint8)  # OpenCV draws text on 8 bits
    scale = min(0.5, 0.9 * panel.shape[1] / max(1, 9 * len(text)))
    cv2.putText(band, text, (6, LABEL_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([panel, band.astype(np.float32)], axis=0)


def contact_sheet(
    image: np.ndarray,
    models: list[str] | None = None,
    size: int = 384,
    columns: int | None = None,
    config: SessionConfig | None = None,
    precision: str | None = None,
) -> np.ndarray:
    """H×W×3 float32 RGB 0–255 photo → one float32 RGB sheet: the photo, then each of ``models`` (default:
    :func:`sheet_models`) at long side ``size`` px, labelled, in a grid of ``columns`` (default: about square).
    ImpastoError for a model that cannot be opened or a photo too small for ``size``."""
    models = models if models is not None else sheet_models()
    cache = StylizerCache(config, precision)
    first = cache.get(models[0]) if models else None
    photo = first.prepare(image, size) if first else image
    panels = [_label(photo, "photo")]
    for name in models:
        panels.append(_label(cache.get(name).stylize(photo, tile=None), name))
    columns = columns or math.ceil(math.sqrt(len(panels)))
    rows = math.ceil(len(panels) / columns)
    height, width = panels[0].shape[:2]
    gap = 4
    sheet = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), BACKGROUND, np.float32)
    for index, panel in enumerate(panels):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        sheet[top : top + height, left : left + width] = panel
    return sheet
