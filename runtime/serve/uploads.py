"""Reading what a client uploads, within the limits: body size (413, checked before and while reading), multipart
forms, and images whose pixel count is checked from their header before they are decoded (413)."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import Request

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.decode import ImageTooLarge, decode_image, read_size
from impasto.runtime.serve.errors import ApiError

UPLOAD_TIMEOUT_S = 30.0  # ServeSettings.upload_timeout_s's default


async def read_upload(request: Request, limit: int, timeout_s: float = UPLOAD_TIMEOUT_S) -> bytes:
    """The whole request body, refused with 413 once it is (or declares to be) over ``limit`` bytes, and with 408
    (closing the connection) when it has not all arrived within ``timeout_s`` seconds: a client that sends most of
    a body and stops holds no memory past that."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "upload_too_large", f"upload of {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            message = f"the upload did not arrive within {timeout_s:g} s ({size:,} bytes came)"
            raise ApiError(408, "upload_timeout", message, {"Connection": "close"}) from None
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "upload_too_large", f"upload over the limit of {limit:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette parses forms from the cached body; the stream is spent
    return body


async def upload_and_params(
    request: Request, files: tuple[str, ...], limit: int, timeout_s: float = UPLOAD_TIMEOUT_S
) -> tuple[dict[str, bytes], dict]:
    """Images (multipart fields, or the raw body for the first of ``files``) and parameters (query string and form
    fields), with the body limited to ``limit`` bytes and ``timeout_s`` seconds."""
    body = await read_upload(request, limit, timeout_s)
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=len(files), max_fields=32)
        images = {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                images[key] = await value.read()
            else:
                params[key] = value
        return images, params
    return {files[0]: body}, params


def _too_large(name: str, declared: str, max_pixels: int) -> ApiError:
    return ApiError(413, "image_too_large", f"{name}: header declares {declared}; the limit is {max_pixels:,}")


def refuse_oversized(data: bytes | None, name: str, max_pixels: int) -> None:
    """413 now when the image's header declares more than ``max_pixels`` (a read of the header only, well under a
    millisecond); anything else about the image is left for :func:`decode_upload` to say."""
    if not data:
        return
    try:
        width, height = read_size(data, name)
    except ImpastoError:
        return
    if width * height > max_pixels:
        raise _too_large(name, f"{width}×{height} pixels", max_pixels)


def decode_upload(data: bytes | None, name: str, max_pixels: int) -> np.ndarray:
    """An uploaded image (``name`` says which, in errors) as float32 RGB 0–255: 400 when missing or undecodable,
    413 when its header declares more than ``max_pixels`` (nothing is decoded then; runtime/media/decode.py)."""
    if not data:
        raise ApiError(400, "no_image", f"no {'image' if name == 'image' else f'{name} image'} in the request")
    try:
        return decode_image(data, name, max_pixels=max_pixels)
    except ImageTooLarge as error:
        declared = f"{error.width}×{error.height} pixels" if error.width else f"{error.pixels or 0:,} pixels"
        raise _too_large(name, declared, max_pixels) from None
    except ImpastoError as error:
        raise ApiError(400, "bad_image", str(error)) from None
