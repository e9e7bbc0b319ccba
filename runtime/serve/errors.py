"""The API's one error shape, ``{"error": {"kind": ..., "message": ...}}``, and the exception that carries it.

Every module of the server raises :class:`ApiError`; the app turns it into a JSON response here, and counts it.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from impasto.runtime.serve.metrics import ServerMetrics


class ApiError(Exception):
    """A request the server refuses: HTTP ``status``, a stable machine-readable ``kind``, a human ``message`` and
    any extra response ``headers`` (Retry-After)."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers or {}


def error_body(kind: str, message: str) -> dict:
    """The JSON body of an error (also sent as a WebSocket message by ``/v1/live``)."""
    return {"error": {"kind": kind, "message": message}}


def error_response(error: ApiError, metrics: ServerMetrics) -> JSONResponse:
    """``error`` as the response a client gets, counted by kind."""
    metrics.errors.labels(error.kind).inc()
    return JSONResponse(error_body(error.kind, error.message), status_code=error.status, headers=error.headers)


def internal_error_response(metrics: ServerMetrics) -> JSONResponse:
    """The 500 answer to an unexpected exception: counted, and without details of it."""
    metrics.errors.labels("internal").inc()
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",  # a result served as image/png is never sniffed into HTML
    "X-Frame-Options": "DENY",  # the page cannot be framed (clickjacking); CSP's frame-ancestors says it too
    "Referrer-Policy": "no-referrer",
}

HTTP_KINDS = {404: "not_found", 405: "method_not_allowed", 413: "upload_too_large", 400: "bad_request"}


def http_error_response(status: int, detail: str, metrics: ServerMetrics, headers: dict | None = None) -> JSONResponse:
    """Starlette's own refusals (no such route, wrong method, a malformed multipart body) in the API's shape."""
    kind = HTTP_KINDS.get(status, "http_error")
    metrics.errors.labels(kind).inc()
    return JSONResponse(error_body(kind, detail), status_code=status, headers=headers)
