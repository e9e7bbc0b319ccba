"""The routes that describe the server rather than do work: the web page, /healthz, /metrics and /v1/models."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from impasto.runtime.core.registry import TRANSFORMER, all_entries, default_name
from impasto.runtime.serve.state import server_state

WEB_PAGE = Path(__file__).with_name("web") / "index.html"

router = APIRouter()


def _inline_hashes(html: str, tag: str) -> str:
    """CSP source expressions allowing exactly the page's own inline ``<tag>`` blocks, by their SHA-256."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


def page_headers(html: str) -> dict[str, str]:
    """The page's Content-Security-Policy: its own script and style only (by hash, no 'unsafe-inline'), images and
    video from blobs it makes, requests and the WebSocket to this origin, no framing, no plugins."""
    policy = (
        f"default-src 'none'; script-src {_inline_hashes(html, 'script')}; style-src {_inline_hashes(html, 'style')}; "
        "img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {"Content-Security-Policy": policy}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The web page: upload a photo or stylise the camera live."""
    html = WEB_PAGE.read_text()
    return HTMLResponse(html, headers=page_headers(html))


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    """Liveness (no API key needed): the models opened so far and the requests waiting for a slot."""
    state = server_state(request)
    return {"status": "ok", "models_loaded": state.pool.loaded(), "queue": state.slots.waiting}


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    """Prometheus metrics of this app, with the job counts brought up to date."""
    state = server_state(request)
    if state.jobs is not None:
        for job_state, count in state.jobs.counts().items():
            state.metrics.jobs.labels(job_state).set(count)
    return Response(state.metrics.text(), media_type="text/plain; version=0.0.4")


@router.get("/v1/models")
async def models() -> dict:
    """Every shipped model (nets and loss graphs) and the default net."""
    entries = [
        {"name": e.name, "kind": e.kind, "summary": e.summary, "precisions": e.precisions,
         "style": e.metadata.get("style"), "styles": e.styles}
        for e in all_entries()
    ]  # fmt: skip
    return {"default": default_name(TRANSFORMER), "models": entries}
