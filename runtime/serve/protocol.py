"""HTTP/1.1 for a server strangers reach: uvicorn on h11 with a bound on what one request's head may buffer.

httptools (uvicorn's default) sets no limit on headers: one connection sending an unfinished 150 MB header held
150 MB. h11 refuses to buffer more than ``max_incomplete_event_size`` bytes of an unfinished event; uvicorn then
answers a plain 400, so this protocol tells that case apart and answers 431 in the API's JSON shape. A head that
arrives whole in one read is measured by the app (:func:`check_header_size`).
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from impasto.runtime.serve.errors import ApiError

MAX_HEADER_BYTES = 32 << 10  # a request line and its headers; browsers send a few kB, cookies included
MAX_HEADERS = 100  # browsers send about 20


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"kind": kind, "message": message}}).encode()


def check_header_size(headers: list[tuple[bytes, bytes]]) -> None:
    """431 for a head that arrived whole in one read (h11 bounds only an unfinished one): over ``MAX_HEADERS``
    headers or ``MAX_HEADER_BYTES`` bytes."""
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
        message = f"{len(headers):,} headers, {size:,} bytes; the limits are {MAX_HEADERS} and {MAX_HEADER_BYTES:,}"
        raise ApiError(431, "headers_too_large", message, {"Connection": "close"})


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering 431 (not 400) when a request's head outgrew the buffer limit."""

    def send_400_response(self, msg: str) -> None:
        buffered = len(self.conn.trailing_data[0])
        if buffered <= MAX_HEADER_BYTES:
            super().send_400_response(msg)
            return
        body = _error("headers_too_large", f"request headers over {MAX_HEADER_BYTES:,} bytes")
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
