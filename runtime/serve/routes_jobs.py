"""``/v1/jobs``: Gatys optimisation as jobs (each takes seconds to minutes): submit (202), list, poll, cancel, fetch
the result.

A submission takes a job place first (503 when none is free), then reads and checks its parameters (422) and its
cost, size² × iterations (413 over ``max_job_cost``), and only then decodes its images, in a worker thread, giving
the place back on any failure: a burst of decompression bombs costs at most ``max_jobs`` decodes, never more.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.jobs import Job, JobQueue
from impasto.runtime.serve.params import ResultParams, StrictParams, output_format, parse_params
from impasto.runtime.serve.settings import ServeSettings
from impasto.runtime.serve.state import ServerState, server_state
from impasto.runtime.serve.uploads import decode_upload, upload_and_params

router = APIRouter()

JOBS_RETRY_AFTER_S = "30"
MAX_STYLE_WEIGHT = 1e9  # the loss graphs' default β is 1e4; far above this the float32 loss overflows
CANCEL_WAIT_S = 5.0  # how long DELETE waits for a running job to stop before answering 202
IMAGE_FIELDS = ("content", "style")
AUTH_FIELDS = ("key",)  # ?key= carries the API key (runtime/serve/auth.py); not a job parameter

_decoding = threading.Lock()  # one job upload decoded at a time: a decode's peak memory is many times the image's


class JobParams(StrictParams):
    """A job's options, strictly: unknown fields, non-finite numbers and words that are not booleans are refused."""

    size: int = Field(256, ge=32)
    iters: int = Field(100, ge=1)
    style_weight: float | None = Field(None, ge=0.0, le=MAX_STYLE_WEIGHT)
    preserve_color: bool = False  # true/false, 1/0, yes/no, on/off (pydantic's lax booleans)

    @property
    def cost(self) -> int:
        return self.size * self.size * self.iters


def _too_many_jobs(max_jobs: int) -> ApiError:
    return ApiError(503, "too_many_jobs", f"{max_jobs} jobs are already waiting or running",
                    {"Retry-After": JOBS_RETRY_AFTER_S})  # fmt: skip


def _bad(field: str, reason: str) -> ApiError:
    return ApiError(422, "bad_parameter", f"{field}: {reason}")


def job_params(params: dict, images: dict[str, bytes], settings: ServeSettings) -> JobParams:
    """``params`` (query and form fields) as :class:`JobParams` within ``settings``' limits; 422 ``bad_parameter``
    naming the first field that is unknown, malformed or out of range. Empty fields count as absent (HTML forms)."""
    for name in images:
        if name not in IMAGE_FIELDS:
            raise _bad(name, f"unknown file field (send {' and '.join(IMAGE_FIELDS)})")
    values = {name: value for name, value in params.items() if name not in AUTH_FIELDS}
    for name in IMAGE_FIELDS:
        if name in values:
            raise _bad(name, "must be an uploaded file, not a text field")
    parsed = parse_params(JobParams, values)
    if parsed.size > settings.max_job_size:
        raise _bad("size", f"{parsed.size} is over this server's limit of {settings.max_job_size}")
    if parsed.iters > settings.max_job_iters:
        raise _bad("iters", f"{parsed.iters} is over this server's limit of {settings.max_job_iters}")
    return parsed


def check_cost(params: JobParams, settings: ServeSettings) -> None:
    """413 ``job_too_costly`` when size² × iterations is over ``max_job_cost``."""
    if params.cost > settings.max_job_cost:
        raise ApiError(413, "job_too_costly",
                       f"size² × iters = {params.size}² × {params.iters} = {params.cost:,}; this server's limit is "
                       f"{settings.max_job_cost:,} (use a smaller size or fewer iterations)")  # fmt: skip


def owner_of(settings: ServeSettings) -> str | None:
    """Who a request that passed the key check is: a fingerprint of the API key (None on an open server)."""
    return hashlib.sha256(settings.api_key.encode()).hexdigest()[:16] if settings.api_key else None


def _decode_for_job(data: bytes | None, name: str, max_pixels: int, size: int) -> np.ndarray:
    """An uploaded image, shrunk at once to the job's long side (the optimisation never uses more): a queued job
    then holds size² pixels per image, however large the upload was."""
    with _decoding:
        image = decode_upload(data, name, max_pixels)
        return resize_long_side(image, size) if max(image.shape[:2]) > size else image


async def _queue(state: ServerState) -> JobQueue:
    """The job queue, its loss graph opened in a worker thread on first use (it takes seconds)."""
    return state.jobs if state.jobs is not None else await asyncio.to_thread(state.job_queue)


def _known_job(state: ServerState, job_id: str) -> Job:
    """The job ``job_id`` (404 when unknown or long finished; nothing is loaded for an unknown job)."""
    job = state.jobs.get(job_id) if state.jobs is not None else None
    if job is None:
        raise ApiError(404, "unknown_job", f"no job {job_id!r} (finished jobs are kept for a while)")
    return job


@router.post("/v1/jobs", status_code=202)
async def submit_job(request: Request) -> dict:
    """A new job from multipart fields ``content`` and ``style``; options ``size``, ``iters``, ``style_weight``,
    ``preserve_color``. 503 with Retry-After while ``max_jobs`` are waiting or running."""
    from impasto.runtime.gatys.optimize import OptimizeSettings

    state = server_state(request)
    settings = state.settings
    queue = await _queue(state)
    reservation = queue.reserve()
    if reservation is None:
        raise _too_many_jobs(settings.max_jobs)
    try:
        images, params = await upload_and_params(
            request, IMAGE_FIELDS, settings.max_upload_bytes, settings.upload_timeout_s
        )
        parsed = job_params(params, images, settings)
        check_cost(parsed, settings)
        content, style = [
            await asyncio.to_thread(_decode_for_job, images.pop(name, None), name, settings.max_pixels, parsed.size)
            for name in IMAGE_FIELDS
        ]
        job_settings = OptimizeSettings(
            size=parsed.size,
            iters=parsed.iters,
            style_weight=parsed.style_weight,
            preserve_color="luminance" if parsed.preserve_color else None,
        )
        job = queue.submit(reservation, content, [style], job_settings, settings.job_timeout_s, owner_of(settings))
    except ImpastoError as error:
        raise ApiError(400, "bad_job", str(error)) from None
    finally:
        reservation.release()  # a no-op once the job was submitted
    return job.status()


@router.get("/v1/jobs")
async def list_jobs(request: Request) -> dict:
    """The caller's jobs, oldest first: with an API key set, those submitted with it; on an open server, all."""
    state = server_state(request)
    if state.jobs is None:
        return {"jobs": []}
    settings = state.settings
    jobs = state.jobs.jobs(owner_of(settings), everyone=not settings.api_key)
    return {"jobs": [job.status() for job in jobs]}


@router.get("/v1/jobs/{job_id}")
async def job_status(request: Request, job_id: str) -> dict:
    """A job's state and progress; 404 for an unknown (or long-finished) job."""
    return _known_job(server_state(request), job_id).status()


@router.delete("/v1/jobs/{job_id}")
async def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a waiting or running job: 200 with its status once it has stopped (a running one stops within an
    iteration), 202 if it is still stopping after a few seconds; 404 unknown, 409 already finished."""
    state = server_state(request)
    job = _known_job(state, job_id)
    if not state.jobs.cancel(job):
        raise ApiError(409, "job_finished", f"job {job_id!r} has already finished: it is {job.state}")
    deadline = time.monotonic() + CANCEL_WAIT_S
    while not job.stopped.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return JSONResponse(job.status(), status_code=200 if job.stopped.is_set() else 202)


@router.get("/v1/jobs/{job_id}/result")
async def job_result(request: Request, job_id: str) -> Response:
    """A finished job's image in ``format``, encoded in a worker thread; 404 for an unknown job, 409 while it is not
    done."""
    job = _known_job(server_state(request), job_id)
    if job.state != "done":
        raise ApiError(409, "not_done", f"job is {job.state}")
    suffix, media = output_format(parse_params(ResultParams, request.query_params).format)
    return Response(await asyncio.to_thread(job.result_bytes, suffix), media_type=media)
