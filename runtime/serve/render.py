"""The blocking work a slot runs for ``/v1/stylize`` and ``/v1/live``: decode, stylise, encode.

Kept apart from the routes so both share it, and so it is plain synchronous code for a worker thread.
"""

from __future__ import annotations

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.encode import encode_image
from impasto.runtime.nets.stylizer import Stylizer
from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.uploads import decode_upload


def stylize_bytes(
    stylizer: Stylizer,
    data: bytes,
    size: int | None,
    preserve: bool,
    suffix: str,
    max_pixels: int,
    strength: float = 1.0,
    max_size: int | None = None,
) -> bytes:
    """What ``impasto stylize --size S [--preserve-color] [--strength S] -o out<suffix>`` writes, as bytes; 400/413
    for a bad image. Without ``size`` an image longer than ``max_size`` is stylised at ``max_size``: the work of
    one request stays bounded (one pass of at most max_size² pixels, under a second here at 2048), which bounds
    what a request abandoned at its time limit (504) still holds its slot for."""
    image = decode_upload(data, "image", max_pixels)
    if size is None and max_size is not None and max(image.shape[:2]) > max_size:
        size = max_size
    try:
        result = stylizer.stylize(image, size=size, preserve_color=preserve, strength=strength)
    except ImpastoError as error:
        raise ApiError(400, "bad_image", str(error)) from None
    return encode_image(result, suffix)
