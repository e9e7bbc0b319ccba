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
    ``max_jobs`` waiting or running, each at most ``max_job_iters`` iterations at ``max_job_size`` pixels a side,
    on the ``loss_model`` graph. ``retry_after_s`` is the Retry-After of an overloaded answer.
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
    loss_model: str = "vgg16-avg"
    retry_after_s: int = 2
