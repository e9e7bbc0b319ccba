"""``impasto batch IN_DIR OUT_DIR``: a folder of photos stylised on Ray Data, on this machine or a Ray cluster.

An actor pool holds the onnxruntime sessions (one per actor, each actor a GPU where there are GPUs, else a share of
the cores), and each actor reads, stylises and writes its images, so decoding and encoding run in parallel too.
Outputs are named as ``impasto stylize`` names them and written atomically; a rerun skips every output that exists,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.media.paths import collect_inputs, plan_outputs
from impasto.runtime.nets.stylizer import StylizeOptions, Stylizer


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


@dataclass
class BatchReport:
    total: int
    skipped: int
    done: int
    seconds: float  # all of it, Ray's start included
    processing_seconds: float = 0.0  # from the first image handed out to the last written

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


class _StylizeActor:
    """A Ray actor: one Stylizer (one session), opened once, for every batch of (input, output) paths it is handed."""

    def __init__(self, model: str, session: SessionConfig, precision: str | None, options: StylizeOptions) -> None:
        self.stylizer = Stylizer(model, session, precision)
        self.options = options

    def __call__(self, batch: dict) -> dict:
        seconds = []
        for source, target in zip(batch["input"], batch["output"], strict=True):
            began = time.perf_counter()
            image = read_image(source, min_side=self.stylizer.min_side)
            write_image(target, self.stylizer.stylize_with(image, self.options))
            seconds.append(time.perf_counter() - began)
        return {"output": list(batch["output"]), "seconds": seconds}


def plan_batch(inputs_dir: Path, outputs_dir: Path, model_name: str) -> tuple[list[Path], list[Path], int]:
    """(inputs, outputs) still to do, and how many were already done."""
    if not inputs_dir.is_dir():
        raise ImpastoError(f"{inputs_dir}: not a folder")
    inputs = collect_inputs([inputs_dir])
    outputs = plan_outputs(inputs, f"{outputs_dir}{os.sep}", model_name)
    todo = [(i, o) for i, o in zip(inputs, outputs, strict=True) if not o.exists()]
    return [i for i, _ in todo], [o for _, o in todo], len(inputs) - len(todo)


def run_batch(inputs_dir: Path, outputs_dir: Path, settings: BatchSettings, quiet: bool = False) -> BatchReport:
    try:
        import ray
    except ImportError as error:
        raise ImpastoError(f"`impasto batch` needs Ray (pip install 'impasto[batch]'): {error}") from error
    name = Stylizer(settings.model, SessionConfig(), settings.precision).name  # a bad model fails here, once
    inputs, outputs, skipped = plan_batch(inputs_dir, outputs_dir, name)
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
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), actors * 4)).map_batches(
            _StylizeActor,
            fn_constructor_args=(
                settings.model, session, settings.precision,
                StylizeOptions(settings.size, settings.preserve_color, strength=settings.strength),
            ),
            batch_size=settings.batch_size, concurrency=actors, num_gpus=1 if gpus else 0,
            num_cpus=0 if gpus else threads,
        )  # fmt: skip
        done = sum(len(batch["output"]) for batch in dataset.iter_batches(batch_size=None))
        processing = time.perf_counter() - processing_began
    except ray.exceptions.RayError as error:
        cause = getattr(error, "cause", None) or error
        raise ImpastoError(f"batch failed: {str(cause).strip().splitlines()[-1][:300]}") from error
    finally:
        if started_here:
            ray.shutdown()
    return BatchReport(total, skipped, done, time.perf_counter() - began, processing)
