"""``/v1/jobs``: Gatys optimisation as jobs (each takes seconds to minutes): submit (202), poll, fetch the result."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.encode import encode_image
from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.params import option, output_format
from impasto.runtime.serve.state import server_state
from impasto.runtime.serve.uploads import decode_upload, upload_and_params

router = APIRouter()

JOBS_RETRY_AFTER_S = "30"


def _too_many_jobs(max_jobs: int) -> ApiError:
    return ApiError(503, "too_many_jobs", f"{max_jobs} jobs are already waiting or running",
                    {"Retry-After": JOBS_RETRY_AFTER_S})  # fmt: skip


@router.post("/v1/jobs", status_code=202)
async def submit_job(request: Request) -> dict:
    """A new job from multipart fields ``content`` and ``style``; options ``size``, ``iters``, ``style_weight``,
    ``preserve_color``. 503 with Retry-After while ``max_jobs`` are waiting or running."""
    from impasto.runtime.gatys.optimize import OptimizeSettings

    state = server_state(request)
    settings = state.settings
    if state.job_queue().pending() >= settings.max_jobs:
        raise _too_many_jobs(settings.max_jobs)
    images, params = await upload_and_params(request, ("content", "style"), settings.max_upload_bytes)
    content = await asyncio.to_thread(decode_upload, images.get("content"), "content", settings.max_pixels)
    style = await asyncio.to_thread(decode_upload, images.get("style"), "style", settings.max_pixels)
    job_settings = OptimizeSettings(
        size=option(params, "size", int, 256, 32, settings.max_job_size),
        iters=option(params, "iters", int, 100, 1, settings.max_job_iters),
        style_weight=option(params, "style_weight", float, None, 0.0),
        preserve_color="luminance" if option(params, "preserve_color", bool, False) else None,
    )
    try:
        job = state.job_queue().submit(content, [style], job_settings)
    except ImpastoError as error:
        raise ApiError(400, "bad_job", str(error)) from None
    if job is None:
        raise _too_many_jobs(settings.max_jobs)
    return job.status()


@router.get("/v1/jobs/{job_id}")
async def job_status(request: Request, job_id: str) -> dict:
    """A job's state and progress; 404 for an unknown (or long-finished) job."""
    job = server_state(request).job_queue().get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", f"no job {job_id!r} (finished jobs are kept for a while)")
    return job.status()


@router.get("/v1/jobs/{job_id}/result")
async def job_result(request: Request, job_id: str, format: str = "png") -> Response:  # noqa: A002 — the API's name
    """A finished job's image in ``format``; 404 for an unknown job, 409 while it is not done."""
    job = server_state(request).job_queue().get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", f"no job {job_id!r}")
    if job.state != "done":
        raise ApiError(409, "not_done", f"job is {job.state}")
    suffix, media = output_format({"format": format})
    return Response(encode_image(job.result, suffix), media_type=media)
