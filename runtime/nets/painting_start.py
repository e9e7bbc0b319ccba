"""A start for Gatys optimisation better than the photo: a shipped net's one-pass result when one was trained
on the painting (``impasto optimize --init net`` passes it to ``optimize`` as ``start_image``).

The optimisation then begins from an image that already carries the painting's strokes (its Gatys objective at
512 px is about 7× lower than the photo's on chelsea × great-wave), and spends its iterations on what the net got
wrong. The painting is recognised by its pixels, not its file name, so a re-saved or resized copy of a shipped
painting finds its net, and any other painting finds none. It lives with the nets because ``gatys`` sits beside
them, not above.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import TRANSFORMER, all_entries, shipped_models_dir
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.resize import resize
from impasto.runtime.nets.stylizer import Stylizer

THUMBNAIL = 32  # px a side: enough to tell six paintings apart, blind to re-encoding and resizing
SAME_PAINTING = 6.0  # mean absolute difference, 0–255 levels, below which two thumbnails are the same painting
SAME_ASPECT = 0.02  # relative difference of width/height allowed


def _thumbnail(image: np.ndarray) -> np.ndarray:
    return resize(image, (THUMBNAIL, THUMBNAIL))


@lru_cache(maxsize=1)
def _shipped_paintings() -> tuple[tuple[str, float, np.ndarray], ...]:
    """(style name, aspect ratio, thumbnail) of every painting a shipped net was trained on and the repository
    ships (models/images/<style>.jpg)."""
    found = []
    for entry in all_entries(TRANSFORMER):
        for style in entry.styles or [entry.name]:
            path = shipped_models_dir() / "images" / f"{style}.jpg"
            if path.is_file():
                image = read_image(path)
                found.append((style, image.shape[1] / image.shape[0], _thumbnail(image)))
    return tuple(found)


def net_for_painting(style: np.ndarray) -> str | None:
    """The shipped style (a model name for ``Stylizer``) trained on the painting ``style`` (H×W×3 RGB 0–255),
    or None when no shipped net knows it."""
    aspect, thumbnail = style.shape[1] / style.shape[0], _thumbnail(style)
    for name, known_aspect, known in _shipped_paintings():
        if abs(aspect / known_aspect - 1) < SAME_ASPECT and np.abs(thumbnail - known).mean() < SAME_PAINTING:
            return name
    return None


def net_start(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The shipped net's stylisation of ``content`` (H×W×3 RGB float32 0–255, same size), for the painting
    ``style``; ImpastoError when no shipped net was trained on it."""
    name = net_for_painting(style)
    if name is None:
        raise ImpastoError("no shipped net was trained on this painting")
    result = Stylizer(name).stylize(content, size=(content.shape[0], content.shape[1]))
    return result.astype(np.float32)
