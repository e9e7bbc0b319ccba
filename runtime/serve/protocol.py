"""HTTP/1.1 for a server strangers reach: uvicorn on h11 with a bound on what one request's head may buffer.

httptools (uvicorn's default) sets no limit on headers: one connection sending an unfinished 150 MB header held
150 MB. h11 refuses to buffer more than ``max_incomplete_event_size`` bytes of an unfinished event; uvicorn then
answers a plain 400, so this protocol tells that case apart and answers 431 in the API's JSON shape. A head that
arrives whole in one read is measured by the app (:func:`check_header_size`).
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from impasto.runtime.serve.errors import ApiError

MAX_HEADER_BYTES = 32 << 10  # a request line and its headers; browsers send a few kB, cookies included
MAX_HEADERS = 100  # browsers send about 20
HEAD_TIMEOUT_S = 10.0  # a connection that has not sent a whole request head by then is answered 408 and closed


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"kind": kind, "message": message}}).encode()


def check_header_size(scope: dict) -> None:
    """431 for a head that arrived whole in one read (h11 bounds only an unfinished one): over ``MAX_HEADERS``
    headers, or over ``MAX_HEADER_BYTES`` bytes with the request line (path and query string) counted."""
    headers = scope["headers"]
    size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + 16
    size += sum(len(name) + len(value) + 4 for name, value in headers)
    if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
        message = f"{len(headers):,} headers, {size:,} bytes; the limits are {MAX_HEADERS} and {MAX_HEADER_BYTES:,}"
        raise ApiError(431, "headers_too_large", message, {"Connection": "close"})


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with two bounds uvicorn lacks: 431 (not 400) when a request's head outgrew the buffer
    limit, and a deadline for every request head. uvicorn times out nothing before the first response, so idle
    sockets and slowloris heads (a byte a second) were held forever, each counting against ``limit_concurrency``
    until every route answered 503."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        upgraded = self.transport.get_protocol() is not self
        if upgraded or (self.cycle is not None and not self.cycle.response_complete):
            self._cancel_head_timer()  # a whole head came: the request's own limits apply from here

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        serving = self.cycle is not None and not self.cycle.response_complete
        if self.transport.is_closing() or serving or self.transport.get_protocol() is not self:
            return
        body = _error("head_timeout", f"no complete request head within {HEAD_TIMEOUT_S:g} s")
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        buffered = len(self.conn.trailing_data[0])
        if buffered <= MAX_HEADER_BYTES:
            super().send_400_response(msg)
            return
        body = _error("headers_too_large", f"request headers over {MAX_HEADER_BYTES:,} bytes")
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        events = (
            h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        )
        self.transport.write(b"".join(self.conn.send(event) for event in events))  # one write: one packet
        self.transport.close()
