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
) -> bytes:
    """What ``impasto stylize --size S [--preserve-color] [--strength S] -o out<suffix>`` writes, as bytes; 400/413
    for a bad image."""
    image = decode_upload(data, "image", max_pixels)
    try:
        result = stylizer.stylize(image, size=size, preserve_color=preserve, strength=strength)
    except ImpastoError as error:
        raise ApiError(400, "bad_image", str(error)) from None
    return encode_image(result, suffix)
