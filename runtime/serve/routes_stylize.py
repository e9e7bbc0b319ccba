"""``POST /v1/stylize``: one image through a feed-forward net, the result as the same bytes the CLI would write."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from impasto.runtime.serve.params import option, output_format
from impasto.runtime.serve.render import stylize_bytes
from impasto.runtime.serve.state import server_state
from impasto.runtime.serve.uploads import upload_and_params

router = APIRouter()


@router.post("/v1/stylize")
async def stylize(request: Request) -> Response:
    """The image (raw body or multipart field ``image``) stylised; options ``model``, ``size``, ``preserve_color``,
    ``strength`` (0–1), ``format``. The net's name comes back in X-Impasto-Model."""
    state = server_state(request)
    settings = state.settings
    state.slots.admit()  # a full server refuses before reading the upload
    images, params = await upload_and_params(request, ("image",), settings.max_upload_bytes)
    model = state.pool.get(params.get("model"))
    size = option(params, "size", int, None, 16, settings.max_size)
    preserve = option(params, "preserve_color", bool, False)
    strength = option(params, "strength", float, 1.0, 0.0, 1.0)
    suffix, media = output_format(params)
    data = images.get("image") or next(iter(images.values()), b"")
    result = await state.slots.run(
        lambda: stylize_bytes(model, data, size, preserve, suffix, settings.max_pixels, strength)
    )
    return Response(result, media_type=media, headers={"X-Impasto-Model": model.name})
