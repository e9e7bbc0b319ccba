"""``POST /v1/stylize``: one image through a feed-forward net, the result as the same bytes the CLI would write."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from impasto.runtime.serve.params import StylizeParams, output_format, parse_params
from impasto.runtime.serve.render import stylize_bytes
from impasto.runtime.serve.state import server_state
from impasto.runtime.serve.uploads import refuse_oversized, upload_and_params

router = APIRouter()


@router.post("/v1/stylize")
async def stylize(request: Request) -> Response:
    """The image (raw body or multipart field ``image``) stylised; options ``model``, ``size``, ``preserve_color``,
    ``strength`` (0–1), ``format``. The net's name comes back in X-Impasto-Model."""
    state = server_state(request)
    settings = state.settings
    async with state.slots.place() as place:  # a full server refuses before reading the upload
        images, params = await upload_and_params(
            request, ("image",), settings.max_upload_bytes, settings.upload_timeout_s
        )
        data = images.get("image") or next(iter(images.values()), b"")
        refuse_oversized(data, "image", settings.max_pixels)  # before a model is opened or a slot is taken
        options = parse_params(StylizeParams, params, settings.max_size)
        model = await asyncio.to_thread(state.pool.get, options.model)  # a first use opens a session: off the loop
        size, preserve, strength = options.size, options.preserve_color, options.strength
        suffix, media = output_format(options.format)
        result = await state.slots.run(
            lambda: stylize_bytes(
                model, data, size, preserve, suffix, settings.max_pixels, strength, settings.max_size
            ),
            place,
        )
    return Response(result, media_type=media, headers={"X-Impasto-Model": model.name})
