"""``impasto serve``: the command line of the HTTP service (runtime/serve builds the app)."""

from __future__ import annotations

import argparse
import os
import sys

from impasto.runtime.cli.args import (
    add_precision,
    add_session_options,
    default,
    non_negative_int,
    positive,
    positive_int,
    session_config,
)
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.serve.settings import ServeSettings


def add_serve(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="HTTP service with a web page (needs the serve extra)",
        description="Serve POST /v1/stylize, /v1/jobs (Gatys optimisation), GET /v1/models, /healthz, /metrics and a "
        "web page at / with a live camera mode. The API key, if any, comes from IMPASTO_API_KEY (or --api-key).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8000)

    def number(flag: str, kind, field: str, help_text: str, scale: float = 1.0) -> None:
        value = default(ServeSettings, field) / scale
        shown = f"{value:g}" if isinstance(value, float) else f"{value:,}"
        parser.add_argument(flag, type=kind, default=value, help=f"{help_text} (default {shown})")

    number("--slots", positive_int, "slots", "stylisations run at once")
    number("--queue", non_negative_int, "queue", "requests that may wait for a slot")
    number("--timeout", positive, "timeout_s", "seconds per request")
    number("--max-upload-mb", positive, "max_upload_bytes", "upload limit in MiB", scale=1 << 20)
    number("--max-pixels", positive_int, "max_pixels", "image pixel limit")
    number("--max-jobs", positive_int, "max_jobs", "optimisation jobs waiting or running")
    number("--job-timeout", positive, "job_timeout_s", "seconds a job may run before it is stopped")
    number(
        "--max-job-cost", positive_int, "max_job_cost", "largest job, in long side² × iterations summed over its scales"
    )
    number("--upload-timeout", positive, "upload_timeout_s", "seconds an upload may take to arrive")
    number("--max-connections", positive_int, "max_connections", "connections served at once")
    parser.add_argument("--api-key", default=os.environ.get("IMPASTO_API_KEY"), help=argparse.SUPPRESS)
    add_precision(parser)
    add_session_options(parser)
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from impasto.runtime.serve.app import create_app
        from impasto.runtime.serve.protocol import MAX_HEADER_BYTES, BoundedH11Protocol
    except ImportError as error:
        raise ImpastoError(f"`impasto serve` needs the serve extra (pip install 'impasto[serve]'): {error}") from error
    settings = ServeSettings(
        session=session_config(args), precision=args.precision, slots=args.slots, queue=args.queue,
        timeout_s=args.timeout, max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
        api_key=args.api_key or None, max_jobs=args.max_jobs, job_timeout_s=args.job_timeout,
        max_job_cost=int(args.max_job_cost), upload_timeout_s=args.upload_timeout,
        max_connections=args.max_connections,
    )  # fmt: skip
    app = create_app(settings)
    key = "with an API key" if settings.api_key else "open (no API key)"
    print(f"impasto serve: http://{args.host}:{args.port}/ ({key})", file=sys.stderr, flush=True)
    # h11 with a bounded head (httptools buffers headers without limit), a cap on connections
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", http=BoundedH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES, limit_concurrency=settings.max_connections,
    )  # fmt: skip
    return 0
