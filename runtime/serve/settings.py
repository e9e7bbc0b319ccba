"""The limits and options of one ``impasto serve`` app, in one place: the CLI fills them, every module reads them."""

from __future__ import annotations

from dataclasses import dataclass, field

from impasto.runtime.core.session_config import SessionConfig


@dataclass
class ServeSettings:
    """What ``create_app`` builds a server with.

    ``slots`` stylisations run at once and ``queue`` more may wait (503 beyond); each request has ``timeout_s``
    (504). Uploads are limited to ``max_upload_bytes`` and images to ``max_pixels`` (413); ``max_size`` is the
    largest long side a request may ask for. ``api_key`` (None: open) guards ``/v1/``. Gatys jobs: at most
    ``max_jobs`` waiting or running, each at most ``max_job_size`` pixels a side and, for a custom schedule, at most
    ``max_job_iters`` iterations at its coarsest scale, on the ``loss_model`` graph. ``retry_after_s`` is the
    Retry-After of an overloaded answer. A request body must arrive within ``upload_timeout_s`` (408), and a
    request's head stay under 32 KiB (431, ``protocol.py``); at most ``max_connections`` connections are served at
    once (503 beyond).

    A job's cost is its plan's, Σ long side² × iteration cap over the scales of its preset or custom schedule
    (``Schedule.cost``); one over ``max_job_cost`` is refused (413) before its images are decoded.
    The default, 256² × 300 ≈ 19.7 M, is about 1.5–2 minutes of a 2-core CPU (one L-BFGS evaluation costs ~0.3 s at
    256 px, ~1.2 s at 512 px, and an iteration takes 1–1.3 evaluations), so a full queue of ``max_jobs`` clears in
    minutes, not hours. A running job is stopped after ``job_timeout_s`` seconds of running (state ``timed_out``):
    600 s is several times what an in-budget job needs, so it only catches a machine much slower than expected.
    """

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
    max_job_cost: int = 256 * 256 * 300  # Σ long side² × iterations over a job's scales
    job_timeout_s: float = 600.0  # seconds a job may run before it is stopped
    loss_model: str = "vgg16-avg"
    retry_after_s: int = 2
    upload_timeout_s: float = 30.0  # a body not all arrived by then: 408, connection closed
    max_connections: int = 64  # open connections and requests at once (uvicorn's limit_concurrency; 503 beyond)
