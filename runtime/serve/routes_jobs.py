"""``/v1/jobs``: Gatys optimisation as jobs (each takes seconds to minutes): submit (202), list, poll, cancel, fetch
the result.

A submission takes a job place first (503 when none is free), then reads and checks its parameters (422) and its
cost, the plan's Σ long side² × iteration cap over its scales (413 over ``max_job_cost``), and only then decodes its
images, in a worker thread, giving the place back on any failure: a burst of decompression bombs costs at most
``max_jobs`` decodes, never more.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.schedule import DEFAULT_PRESET, PRESETS, Schedule
from impasto.runtime.gatys.settings import OptimizeSettings
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


PresetName = Literal[tuple(PRESETS)]  # the names of schedule.PRESETS, as pydantic checks them


class JobParams(StrictParams):
    """A job's options, strictly: unknown fields, non-finite numbers and words that are not booleans are refused.
    ``preset`` names a measured schedule (None: DEFAULT_PRESET, unless ``iters`` asks for the custom one: ``iters``
    at the coarsest scale, half as many at each finer one); giving both is refused."""

    size: int = Field(256, ge=32)
    preset: PresetName | None = None  # type: ignore[valid-type]
    iters: int | None = Field(None, ge=1)
    style_weight: float | None = Field(None, ge=0.0, le=MAX_STYLE_WEIGHT)
    preserve_color: bool = False  # true/false, 1/0, yes/no, on/off (pydantic's lax booleans)

    def settings(self) -> OptimizeSettings:
        """The job's optimisation; the preset resolved, so that its status names the schedule it runs."""
        return OptimizeSettings(
            size=self.size,
            preset=None if self.iters is not None else self.preset or DEFAULT_PRESET,
            iters=self.iters,
            style_weight=self.style_weight,
            preserve_color="luminance" if self.preserve_color else None,
        )


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
    if parsed.preset is not None and parsed.iters is not None:
        raise _bad("preset", f"{parsed.preset!r} sets the iterations; give preset or iters, not both")
    if parsed.size > settings.max_job_size:
        raise _bad("size", f"{parsed.size} is over this server's limit of {settings.max_job_size}")
    if parsed.iters is not None and parsed.iters > settings.max_job_iters:
        raise _bad("iters", f"{parsed.iters} is over this server's limit of {settings.max_job_iters}")
    return parsed


def check_cost(schedule: Schedule, settings: ServeSettings) -> None:
    """413 ``job_too_costly`` when the plan's cost, Σ long side² × iteration cap over its scales, is over
    ``max_job_cost`` (the caps: early stops only make a job cheaper)."""
    cost = schedule.cost()
    if cost > settings.max_job_cost:
        terms = " + ".join(f"{scale.long_side}² × {scale.iters}" for scale in schedule.scales)
        raise ApiError(413, "job_too_costly",
                       f"the job's plan costs {terms} = {cost:,} (long side² × iterations at each scale); this "
                       f"server's limit is {settings.max_job_cost:,} (use a smaller size, fewer iterations or a "
                       f"faster preset)")  # fmt: skip


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
    """A new job from multipart fields ``content`` and ``style``; options ``size``, ``preset`` or ``iters``,
    ``style_weight``, ``preserve_color``. 503 with Retry-After while ``max_jobs`` are waiting or running."""
    from impasto.runtime.gatys.optimize import preflight

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
        job_settings = parsed.settings()
        schedule = job_settings.schedule(parsed.size, queue.model.min_side)
        check_cost(schedule, settings)
        content, style = [
            await asyncio.to_thread(_decode_for_job, images.pop(name, None), name, settings.max_pixels, parsed.size)
            for name in IMAGE_FIELDS
        ]
        preflight(queue.model, content, [style], job_settings)  # a scale too small for the model: 400 now
        schedule = job_settings.schedule(parsed.size, queue.model.min_side, content.shape)  # a thin image may
        check_cost(schedule, settings)  # keep fewer scales, and so cost more, than the square plan costed above
        job = queue.submit(
            reservation, content, [style], job_settings, schedule, settings.job_timeout_s, owner_of(settings)
        )
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
