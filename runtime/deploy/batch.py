"""``impasto batch IN_DIR OUT_DIR``: a folder of photos stylised on Ray Data, on this machine or a Ray cluster.

An actor pool holds the onnxruntime sessions (one per actor, each actor a GPU where there are GPUs, else a share of
the cores), and each actor reads, stylises and writes its images, so decoding and encoding run in parallel too.
Outputs are named as ``impasto stylize`` names them and written atomically. A ledger in the output folder
(``.impasto-batch.json``) records the settings each output was made with, so a rerun skips only outputs made with
the same net and settings: an interrupted run resumes where it stopped, a run with other settings redoes the work.
A file that cannot be read is named and the others are done (``strict``: the first one stops the run).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import sha256_file
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.media import MAX_PIXELS
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic, write_image
from impasto.runtime.media.paths import STDIO, collect_inputs, naming, plan_outputs
from impasto.runtime.nets.stylizer import StylizeOptions, Stylizer

LEDGER = ".impasto-batch.json"  # in the output folder: {output file name: the settings it was made with}


@dataclass(frozen=True)
class BatchSettings:
    model: str
    size: int | tuple[int, int] | None = None  # long side, or (height, width)
    preserve_color: bool = False
    strength: float = 1.0  # 0: the photo, 1: the style's result
    actors: int | None = None  # default: one per GPU, else one per 2 cores
    batch_size: int = 4  # images an actor is handed at a time
    address: str | None = None  # a Ray cluster; default: a local Ray instance
    session: SessionConfig = SessionConfig()
    precision: str | None = None
    strict: bool = False  # the first unreadable input stops the run
    max_pixels: int = MAX_PIXELS  # inputs whose header declares more are refused before decoding


@dataclass
class BatchReport:
    total: int
    skipped: int
    done: int
    seconds: float  # all of it, Ray's start included
    processing_seconds: float = 0.0  # from the first image handed out to the last written
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, one-line reason)

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


class _StylizeActor:
    """A Ray actor: one Stylizer (one session), opened once, for every batch of (input, output) paths it is handed."""

    def __init__(
        self, model: str, session: SessionConfig, precision: str | None, options: StylizeOptions, max_pixels: int
    ) -> None:
        self.stylizer = Stylizer(model, session, precision)
        self.options = options
        self.max_pixels = max_pixels

    def __call__(self, batch: dict) -> dict:
        seconds, errors = [], []
        for source, target in zip(batch["input"], batch["output"], strict=True):
            began = time.perf_counter()
            try:
                image = read_image(source, self.stylizer.min_side, self.max_pixels)
                write_image(target, self.stylizer.stylize_with(image, self.options))
                errors.append("")
            except ImpastoError as error:  # this file's fault; the driver names it and decides whether to go on
                errors.append(naming(source, error))
            seconds.append(time.perf_counter() - began)
        return {"input": list(batch["input"]), "output": list(batch["output"]), "seconds": seconds, "error": errors}


def settings_fingerprint(stylizer: Stylizer, settings: BatchSettings) -> dict:
    """What an output depends on: the net file's bytes, the style (blend) and how it was stylised."""
    fingerprint = {
        "net_sha256": sha256_file(stylizer.net.path), "model": stylizer.name, "size": settings.size,
        "preserve_color": settings.preserve_color, "strength": settings.strength,
    }  # fmt: skip
    return json.loads(json.dumps(fingerprint))  # as the ledger will read it back: an HxW size as a list


def read_ledger(outputs_dir: Path) -> dict[str, dict]:
    """{output name: fingerprint} of outputs made earlier; empty when there is none or it is unreadable."""
    try:
        ledger = json.loads((outputs_dir / LEDGER).read_text())
    except (OSError, ValueError):
        return {}
    return ledger if isinstance(ledger, dict) else {}


def write_ledger(outputs_dir: Path, ledger: dict[str, dict]) -> None:
    write_atomic(outputs_dir / LEDGER, json.dumps(ledger, indent=1, sort_keys=True).encode())


def plan_batch(
    inputs_dir: Path, outputs_dir: Path, model_name: str, fingerprint: dict | None = None
) -> tuple[list[Path], list[Path], int]:
    """(inputs, outputs) still to do, and how many were already done: an output counts as done when it exists and
    the ledger says it was made with ``fingerprint`` (None: when it exists)."""
    if not inputs_dir.is_dir():
        raise ImpastoError(f"{inputs_dir}: not a folder")
    if str(outputs_dir) == STDIO:
        raise ImpastoError("-o -: batch writes a folder of images, not stdout; name the output folder")
    inputs = collect_inputs([inputs_dir])
    outputs = plan_outputs(inputs, f"{outputs_dir}{os.sep}", model_name)
    ledger = read_ledger(outputs_dir)

    def done(output: Path) -> bool:
        return output.exists() and (fingerprint is None or ledger.get(output.name) == fingerprint)

    todo = [(i, o) for i, o in zip(inputs, outputs, strict=True) if not done(o)]
    return [i for i, _ in todo], [o for _, o in todo], len(inputs) - len(todo)


def run_batch(inputs_dir: Path, outputs_dir: Path, settings: BatchSettings, quiet: bool = False) -> BatchReport:
    # Ray Data's INFO lines go to stderr, where a user reads one line per bad file
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    try:
        import ray
    except ImportError as error:
        raise ImpastoError(f"`impasto batch` needs Ray (pip install 'impasto[batch]'): {error}") from error
    stylizer = Stylizer(settings.model, SessionConfig(), settings.precision)  # a bad model fails here, once
    fingerprint = settings_fingerprint(stylizer, settings)
    inputs, outputs, skipped = plan_batch(inputs_dir, outputs_dir, stylizer.name, fingerprint)
    total = len(inputs) + skipped
    if not inputs:
        return BatchReport(total, skipped, 0, 0.0)
    began = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=settings.address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
            **({} if settings.address else {"object_store_memory": 256 << 20}),
        )  # fmt: skip
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = not quiet
        context.verbose_progress = False
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if settings.session.device == "cuda" else 0
        cpus = int(resources.get("CPU", 1))
        actors = settings.actors or (gpus or max(1, cpus // 2))
        threads = settings.session.threads or max(1, cpus // actors)
        session = settings.session.with_(threads=threads)
        items = [{"input": str(i), "output": str(o)} for i, o in zip(inputs, outputs, strict=True)]
        processing_began = time.perf_counter()
        # A local pool does not restart lost actors (a lost actor here is a fault to report); with Ray's default
        # its core worker prints a warning about restarts on every run. Ray marks the keyword deprecated, hence the
        # filter and the <2.64 bound in pyproject.
        restarts = {} if settings.address else {"max_restarts": 0}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = ray.data.from_items(items, override_num_blocks=min(len(items), actors * 4)).map_batches(
                _StylizeActor,
                fn_constructor_args=(
                    settings.model, session, settings.precision,
                    StylizeOptions(settings.size, settings.preserve_color, strength=settings.strength),
                    settings.max_pixels,
                ),
                batch_size=settings.batch_size, concurrency=actors, num_gpus=1 if gpus else 0,
                num_cpus=0 if gpus else threads, **restarts,
            )  # fmt: skip
        done, failed = _collect(dataset, outputs_dir, fingerprint, settings.strict)
        processing = time.perf_counter() - processing_began
    except ray.exceptions.RayError as error:
        cause = getattr(error, "cause", None) or error
        raise ImpastoError(f"batch failed: {str(cause).strip().splitlines()[-1][:300]}") from error
    finally:
        if started_here:
            ray.shutdown()
    return BatchReport(total, skipped, done, time.perf_counter() - began, processing, failed)


def _collect(dataset, outputs_dir: Path, fingerprint: dict, strict: bool) -> tuple[int, list[tuple[str, str]]]:
    """Results as the actors hand them back: each output entered in the ledger, each failure named on stderr (the
    first one raised under ``strict``). The ledger is written as results come, so an interrupted run keeps it."""
    ledger = read_ledger(outputs_dir)
    done, failed = 0, []
    try:
        for batch in dataset.iter_batches(batch_size=None):
            for source, target, error in zip(batch["input"], batch["output"], batch["error"], strict=True):
                if error:
                    if strict:
                        raise ImpastoError(error)
                    failed.append((str(source), str(error)))
                    print(f"impasto: error: {error}", file=sys.stderr)
                else:
                    ledger[Path(target).name] = fingerprint
                    done += 1
            write_ledger(outputs_dir, ledger)
    finally:
        write_ledger(outputs_dir, ledger)
    return done, failed
