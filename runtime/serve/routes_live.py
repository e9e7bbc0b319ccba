"""``/v1/live``: the web page's camera mode over a WebSocket, JPEG frames in and stylised JPEG frames out.

It shares the slots with ``/v1/stylize``; the HTTP middleware does not see WebSockets, so the API key is checked
here, before the socket is accepted.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from impasto.runtime.serve.auth import check_key
from impasto.runtime.serve.errors import ApiError, error_body
from impasto.runtime.serve.params import LiveParams, parse_params
from impasto.runtime.serve.render import stylize_bytes
from impasto.runtime.serve.state import server_state

router = APIRouter()


@router.websocket("/v1/live")
async def live(socket: WebSocket) -> None:
    """Camera frames in (JPEG), stylised frames out (JPEG); a frame that finds every slot busy is skipped."""
    state = server_state(socket)
    settings = state.settings
    try:
        check_key(settings.api_key, socket.headers, socket.query_params, allow_query=True)
        options = parse_params(LiveParams, socket.query_params, settings.max_size)
        size, strength = options.size, options.strength
        model = await asyncio.to_thread(state.pool.get, options.model)
    except ApiError as error:
        # accepted only to say why: a refusal before accepting reaches the browser as a bare 403
        await socket.accept()
        await socket.send_json(error_body(error.kind, error.message))
        await socket.close(code=1008, reason=error.message[:120])
        return
    await socket.accept()
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:  # a text frame
                await socket.send_json(error_body("bad_frame", "send each frame as a binary message (JPEG bytes)"))
                continue
            if len(data) > settings.max_upload_bytes:
                await socket.close(code=1009, reason="frame too large")
                return
            try:
                frame = await state.slots.run(
                    lambda data=data: stylize_bytes(
                        model, data, size, False, ".jpg", settings.max_pixels, strength, settings.max_size
                    )
                )
            except ApiError as error:
                await socket.send_json(error_body(error.kind, error.message))
                continue
            await socket.send_bytes(frame)
    except WebSocketDisconnect:
        return
