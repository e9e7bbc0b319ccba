"""``impasto serve``: the runtime as an HTTP service (FastAPI on uvicorn), with a web page and Prometheus metrics.

- One onnxruntime session per model, opened on first use and shared by every request (sessions are thread-safe).
- Stylisation runs on ``slots`` worker threads; up to ``queue`` more requests wait for one. Beyond that the answer is
  503 with Retry-After instead of a growing backlog, so memory stays bounded by (slots + queue) × upload limit.
- Every request has a time limit (504), uploads a size limit (413, checked before and while reading), images a
  pixel limit read from their header before decoding (413), and an optional API key (401).
- Errors are JSON: ``{"error": {"kind": ..., "message": ...}}``.

This module only assembles the app; each concern lives in its own module of this package (settings, errors, auth,
admission, models, uploads, params, render, state, and the ``routes_*`` routers).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from impasto.runtime.serve import routes_info, routes_jobs, routes_live, routes_stylize
from impasto.runtime.serve.auth import check_key
from impasto.runtime.serve.errors import (
    SECURITY_HEADERS,
    ApiError,
    error_response,
    http_error_response,
    internal_error_response,
)
from impasto.runtime.serve.protocol import check_header_size
from impasto.runtime.serve.settings import ServeSettings
from impasto.runtime.serve.state import ServerState

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving the runtime with ``settings`` (default: :class:`ServeSettings`'s defaults)."""
    state = ServerState.build(settings or ServeSettings())
    metrics = state.metrics

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.shutdown()

    # no slash redirects: a redirect would name whatever host the client's Host header said
    app = FastAPI(
        title="Impasto", summary="Neural style transfer on onnxruntime", lifespan=lifespan, redirect_slashes=False,
        docs_url=None, redoc_url=None, openapi_url=None,  # no unauthenticated schema pages (Swagger from a CDN)
    )  # fmt: skip
    app.state.server = state
    app.state.settings, app.state.metrics, app.state.pool = state.settings, metrics, state.pool

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error, metrics)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = {404: f"no route {request.scope['path']}", 405: f"{request.method} is not allowed here"}.get(
            error.status_code, str(error.detail)
        )
        return http_error_response(error.status_code, detail, metrics, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        field = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        problem = ApiError(422, "bad_parameter", f"{field}: {first.get('msg', 'invalid')}")
        return error_response(problem, metrics)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """The API key for /v1/, JSON for every failure, and the request count and latency by route."""
        began = time.perf_counter()
        try:
            check_header_size(request.scope)  # a head that came complete in one read
            # the ASGI scope's path: what routing uses, whatever the Host header or a proxy made of the URL
            if request.scope["path"].startswith("/v1/"):
                check_key(state.settings.api_key, request.headers, request.query_params)
            response = await call_next(request)
        except ApiError as error:
            response = error_response(error, metrics)
        except Exception:  # noqa: BLE001 — one failing request must not take the server down
            response = internal_error_response(metrics)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        route = request.scope.get("route")
        endpoint = route.path if route is not None else "other"
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - began)
        return response

    for routes in (routes_info, routes_stylize, routes_jobs, routes_live):
        app.include_router(routes.router)
    return app
