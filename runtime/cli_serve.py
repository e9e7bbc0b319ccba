"""``impasto serve``: the command line of the HTTP service (runtime/server.py builds the app)."""

from __future__ import annotations

import argparse
import os
import sys

from impasto.runtime.cli_args import add_session_options, positive, positive_int, session_config
from impasto.runtime.errors import ImpastoError


def add_serve(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="HTTP service with a web page (needs the serve extra)",
        description="Serve POST /v1/stylize, /v1/jobs (Gatys optimisation), GET /v1/models, /healthz, /metrics and a "
        "web page at / with a live camera mode. The API key, if any, comes from IMPASTO_API_KEY (or --api-key).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8000)
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    parser.add_argument("--slots", type=positive_int, default=1, help="stylisations run at once (default 1)")
    parser.add_argument("--queue", type=int, default=8, help="requests that may wait for a slot (default 8)")
    parser.add_argument("--timeout", type=positive, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--max-upload-mb", type=positive, default=20.0, help="upload limit (default 20 MB)")
    parser.add_argument("--max-pixels", type=positive_int, default=6000 * 6000, help="image pixel limit")
    parser.add_argument("--max-jobs", type=positive_int, default=4, help="optimisation jobs waiting or running")
    parser.add_argument("--api-key", default=os.environ.get("IMPASTO_API_KEY"), help=argparse.SUPPRESS)
    add_session_options(parser)
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from impasto.runtime.server import ServeSettings, create_app
    except ImportError as error:
        raise ImpastoError(f"`impasto serve` needs the serve extra (pip install 'impasto[serve]'): {error}") from error
    if args.queue < 0:
        raise ImpastoError("--queue must be 0 or more")
    settings = ServeSettings(
        session=session_config(args), precision=args.precision, slots=args.slots, queue=args.queue,
        timeout_s=args.timeout, max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
        api_key=args.api_key or None, max_jobs=args.max_jobs,
    )  # fmt: skip
    app = create_app(settings)
    key = "with an API key" if settings.api_key else "open (no API key)"
    print(f"impasto serve: http://{args.host}:{args.port}/ ({key})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
