"""``impasto serve``: the runtime as an HTTP service (FastAPI on uvicorn), with a web page and Prometheus metrics.

- One onnxruntime session per model, opened on first use and shared by every request (sessions are thread-safe).
- Stylisation runs on ``slots`` worker threads; up to ``queue`` more requests wait for one. Beyond that the answer is
  503 with Retry-After instead of a growing backlog, so memory stays bounded by (slots + queue) × upload limit.
- Every request has a time limit (504), uploads a size limit (413, checked before and while reading), images a
  pixel limit read from their header before decoding (413), and an optional API key (401).
- Errors are JSON: ``{"error": {"kind": ..., "message": ...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response

from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import declared_size, decode_image, encode_image, resize_long_side
from impasto.runtime.manifest import read_manifest
from impasto.runtime.server_jobs import JobQueue
from impasto.runtime.server_metrics import ServerMetrics
from impasto.runtime.sessions import SessionConfig
from impasto.runtime.stylize import StylizeSettings, stylize_image
from impasto.runtime.transformer_model import TransformerModel, default_transformer, transformer_names

FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"), "jpg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}  # fmt: skip
WEB_PAGE = Path(__file__).with_name("web") / "index.html"


@dataclass
class ServeSettings:
    session: SessionConfig = field(default_factory=SessionConfig)
    precision: str = "fp32"
    slots: int = 1
    queue: int = 8
    timeout_s: float = 60.0
    max_upload_bytes: int = 20 << 20
    max_pixels: int = 6000 * 6000
    max_size: int = 2048  # largest long side a request may ask for
    api_key: str | None = None
    max_jobs: int = 4
    max_job_iters: int = 1000
    max_job_size: int = 1024
    loss_model: str = "vgg16-avg"
    retry_after_s: int = 2


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers or {}


class ModelPool:
    """The shipped transformer nets a client may name, each opened once, on first use."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.names = transformer_names()
        self._models: dict[str, TransformerModel] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> TransformerModel:
        name = name or default_transformer()
        if name not in self.names:
            raise ApiError(404, "unknown_model", f"no transformer net named {name!r}; see GET /v1/models")
        with self._lock:
            if name not in self._models:
                self._models[name] = TransformerModel(name, self.settings.session, self.settings.precision)
            return self._models[name]

    def loaded(self) -> list[str]:
        return sorted(self._models)


class Slots:
    """Admission control: ``slots`` requests run, ``queue`` wait, the rest are turned away at once."""

    def __init__(self, settings: ServeSettings, metrics: ServerMetrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.executor = ThreadPoolExecutor(max_workers=settings.slots, thread_name_prefix="impasto-stylize")
        self._semaphore: asyncio.Semaphore | None = None
        self.waiting = 0

    def admit(self) -> None:
        """503 now if a request would have to be turned away; called before an upload is read, so a full server
        does not buffer bodies it will refuse."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.slots)
        if self._semaphore.locked() and self.waiting >= self.settings.queue:
            raise ApiError(
                503, "overloaded", f"all {self.settings.slots} slots busy and {self.waiting} requests waiting; retry",
                {"Retry-After": str(self.settings.retry_after_s)},
            )  # fmt: skip

    async def run(self, work):
        """``work()`` on a worker thread, once a slot is free; 503 when the queue is full, 504 past the limit."""
        self.admit()
        self.waiting += 1
        self.metrics.queue_depth.set(self.waiting)
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
            self.metrics.queue_depth.set(self.waiting)
        self.metrics.in_flight.inc()
        future = asyncio.get_running_loop().run_in_executor(self.executor, work)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"took longer than {self.settings.timeout_s:g} s") from None
        finally:
            # the slot is free only when the thread is, so a timed-out request cannot oversubscribe the workers
            future.add_done_callback(lambda _: (self._semaphore.release(), self.metrics.in_flight.dec()))


def _option(params: dict, name: str, kind, default, low=None, high=None):
    text = params.get(name)
    if text in (None, ""):
        return default
    try:
        value = kind(text) if kind is not bool else str(text).lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name}: not a {kind.__name__}: {text!r}") from None
    if low is not None and value < low or high is not None and value > high:
        raise ApiError(400, "bad_parameter", f"{name}: {value} is outside {low}–{high}")
    return value


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    metrics = ServerMetrics()
    pool = ModelPool(settings)
    slots = Slots(settings, metrics)
    jobs: JobQueue | None = None
    jobs_lock = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        slots.executor.shutdown(wait=False, cancel_futures=True)
        if jobs is not None:
            jobs.shutdown()

    app = FastAPI(title="Impasto", summary="Neural style transfer on onnxruntime", lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.pool = settings, metrics, pool

    def job_queue() -> JobQueue:
        nonlocal jobs
        with jobs_lock:
            if jobs is None:
                from impasto.runtime.loss_model import GatysLossModel

                jobs = JobQueue(GatysLossModel(settings.loss_model, settings.session), settings.max_jobs)
            return jobs

    def check_key(headers, query) -> None:
        if not settings.api_key:
            return
        given = headers.get("x-api-key") or query.get("key") or ""
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            given = given or bearer[7:]
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise ApiError(401, "unauthorized", "missing or wrong API key (header X-API-Key)")

    def error_response(error: ApiError) -> JSONResponse:
        metrics.errors.labels(error.kind).inc()
        body = {"error": {"kind": error.kind, "message": error.message}}
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        began = time.perf_counter()
        try:
            if request.url.path.startswith("/v1/"):
                check_key(request.headers, request.query_params)
            response = await call_next(request)
        except ApiError as error:
            response = error_response(error)
        except Exception:  # noqa: BLE001 — one failing request must not take the server down
            metrics.errors.labels("internal").inc()
            response = JSONResponse({"error": {"kind": "internal", "message": "internal error"}}, status_code=500)
        route = request.scope.get("route")
        endpoint = route.path if route is not None else "other"
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - began)
        return response

    async def read_upload(request: Request) -> bytes:
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "upload_too_large", f"upload of {int(declared):,} bytes; the limit is {limit:,}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "upload_too_large", f"upload over the limit of {limit:,} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        request._body = body  # Starlette parses forms from the cached body; the stream is spent
        return body

    async def upload_and_params(request: Request, files: tuple[str, ...]) -> tuple[dict[str, bytes], dict]:
        """Images (multipart fields, or the raw body for the first) and parameters (query string and form fields)."""
        body = await read_upload(request)
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

    def decode(data: bytes | None, name: str) -> object:
        if not data:
            raise ApiError(400, "no_image", f"no {name} image in the request")
        size = declared_size(data)
        if size and size[0] * size[1] > settings.max_pixels:
            raise ApiError(
                413, "image_too_large", f"{name}: header declares {size[0]}×{size[1]} pixels; the limit is "
                f"{settings.max_pixels:,}",
            )  # fmt: skip
        try:
            image = decode_image(data, name, capture_stderr=False)
        except ImpastoError as error:
            raise ApiError(400, "bad_image", str(error)) from None
        if image.shape[0] * image.shape[1] > settings.max_pixels:
            width, height = image.shape[1], image.shape[0]
            raise ApiError(413, "image_too_large", f"{name}: {width}×{height} pixels is over the limit")
        return image

    def output_format(params: dict) -> tuple[str, str]:
        name = str(params.get("format", "png")).lower()
        if name not in FORMATS:
            raise ApiError(400, "bad_parameter", f"format: {name!r}; use png, jpeg or webp")
        return FORMATS[name]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(WEB_PAGE.read_text())

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "models_loaded": pool.loaded(), "queue": slots.waiting}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        if jobs is not None:
            for state, count in jobs.counts().items():
                metrics.jobs.labels(state).set(count)
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> dict:
        entries = []
        for entry in read_manifest()["models"]:
            variants = [key for key in entry["files"] if key in ("fp32", "fp16", "int8")]
            entries.append({
                "name": entry["name"], "kind": entry["kind"], "summary": entry.get("summary", ""),
                "precisions": variants, "style": entry.get("metadata", {}).get("style"),
            })  # fmt: skip
        return {"default": default_transformer(), "models": entries}

    def stylize_bytes(model: TransformerModel, data: bytes, size: int | None, preserve: bool, suffix: str) -> bytes:
        """What ``impasto stylize --size S [--preserve-color] -o out<suffix>`` writes, as bytes."""
        image = decode(data, "image")
        if min(image.shape[:2]) < model.min_side:
            raise ApiError(400, "bad_image", f"image is {image.shape[1]}×{image.shape[0]}; needs {model.min_side} px")
        if size:
            image = resize_long_side(image, size)
        return encode_image(stylize_image(model, image, StylizeSettings(size, preserve)), suffix)

    @app.post("/v1/stylize")
    async def stylize(request: Request) -> Response:
        slots.admit()
        images, params = await upload_and_params(request, ("image",))
        model = pool.get(params.get("model"))
        size = _option(params, "size", int, None, 16, settings.max_size)
        preserve = _option(params, "preserve_color", bool, False)
        suffix, media = output_format(params)
        data = images.get("image") or next(iter(images.values()), b"")
        result = await slots.run(lambda: stylize_bytes(model, data, size, preserve, suffix))
        return Response(result, media_type=media, headers={"X-Impasto-Model": model.name})

    @app.post("/v1/jobs", status_code=202)
    async def submit_job(request: Request) -> dict:
        from impasto.runtime.optimize import OptimizeSettings

        if job_queue().pending() >= settings.max_jobs:
            raise ApiError(503, "too_many_jobs", f"{settings.max_jobs} jobs are already waiting or running",
                           {"Retry-After": "30"})  # fmt: skip
        images, params = await upload_and_params(request, ("content", "style"))
        content = await asyncio.to_thread(decode, images.get("content"), "content")
        style = await asyncio.to_thread(decode, images.get("style"), "style")
        job_settings = OptimizeSettings(
            size=_option(params, "size", int, 256, 32, settings.max_job_size),
            iters=_option(params, "iters", int, 100, 1, settings.max_job_iters),
            style_weight=_option(params, "style_weight", float, None, 0.0),
            preserve_color="luminance" if _option(params, "preserve_color", bool, False) else None,
        )
        try:
            job = job_queue().submit(content, [style], job_settings)
        except ImpastoError as error:
            raise ApiError(400, "bad_job", str(error)) from None
        if job is None:
            raise ApiError(503, "too_many_jobs", f"{settings.max_jobs} jobs are already waiting or running",
                           {"Retry-After": "30"})  # fmt: skip
        return job.status()

    @app.get("/v1/jobs/{job_id}")
    async def job_status(job_id: str) -> dict:
        job = job_queue().get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", f"no job {job_id!r} (finished jobs are kept for a while)")
        return job.status()

    @app.get("/v1/jobs/{job_id}/result")
    async def job_result(job_id: str, format: str = "png") -> Response:  # noqa: A002 — the API's parameter name
        job = job_queue().get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", f"no job {job_id!r}")
        if job.state != "done":
            raise ApiError(409, "not_done", f"job is {job.state}")
        suffix, media = output_format({"format": format})
        return Response(encode_image(job.result, suffix), media_type=media)

    @app.websocket("/v1/live")
    async def live(socket: WebSocket) -> None:
        """Camera frames in (JPEG), stylised frames out (JPEG); a frame that finds every slot busy is skipped."""
        try:
            check_key(socket.headers, socket.query_params)
            model = pool.get(socket.query_params.get("model"))
            size = _option(socket.query_params, "size", int, 360, 16, settings.max_size)
        except ApiError as error:
            await socket.close(code=1008, reason=error.message[:120])
            return
        await socket.accept()
        try:
            while True:
                data = await socket.receive_bytes()
                if len(data) > settings.max_upload_bytes:
                    await socket.close(code=1009, reason="frame too large")
                    return
                try:
                    frame = await slots.run(lambda data=data: stylize_bytes(model, data, size, False, ".jpg"))
                except ApiError as error:
                    await socket.send_json({"error": {"kind": error.kind, "message": error.message}})
                    continue
                await socket.send_bytes(frame)
        except WebSocketDisconnect:
            return

    return app
