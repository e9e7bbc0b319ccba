"""Gatys optimisation jobs for ``impasto serve``: seconds to minutes each, so they run apart from the requests.

A job is accepted only while fewer than ``max_pending`` are queued or running (otherwise the caller gets 503), runs
on one worker thread (an optimisation already uses every core), keeps going when its client disconnects, and
reports progress. Finished jobs are kept, with their result, until ``max_kept`` newer ones have finished.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.loss_model import GatysLossModel
from impasto.runtime.gatys.optimize import OptimizeSettings, optimize


@dataclass
class Job:
    id: str
    settings: OptimizeSettings
    state: str = "queued"  # queued → running → done | failed
    done: int = 0
    total: int = 0
    error: str | None = None
    result: np.ndarray | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def status(self) -> dict:
        status = {
            "id": self.id, "state": self.state, "iterations_done": self.done, "iterations_total": self.total,
            "progress": round(self.done / self.total, 4) if self.total else 0.0,
            "size": self.settings.size, "iters": self.settings.iters,
        }  # fmt: skip
        if self.error:
            status["error"] = self.error
        if self.state == "done":
            status["result"] = f"/v1/jobs/{self.id}/result"
        return status


class JobQueue:
    def __init__(self, model: GatysLossModel, max_pending: int = 4, max_kept: int = 32) -> None:
        self.model = model
        self.max_pending, self.max_kept = max_pending, max_kept
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-job")

    def pending(self) -> int:
        with self._lock:
            return sum(job.state in ("queued", "running") for job in self._jobs.values())

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {state: states.count(state) for state in ("queued", "running", "done", "failed")}

    def submit(self, content: np.ndarray, styles: list[np.ndarray], settings: OptimizeSettings) -> Job | None:
        """The new job, or None when the queue is full."""
        with self._lock:
            if sum(job.state in ("queued", "running") for job in self._jobs.values()) >= self.max_pending:
                return None
            job = Job(uuid.uuid4().hex, settings)
            self._jobs[job.id] = job
        self._worker.submit(self._run, job, content, styles)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, content: np.ndarray, styles: list[np.ndarray]) -> None:
        job.state = "running"

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            job.result = optimize(self.model, content, styles, job.settings, progress=False, on_progress=progress).image
            job.state = "done"
        except ImpastoError as error:
            job.error, job.state = str(error), "failed"
        except Exception as error:  # noqa: BLE001 — a job's failure is reported in its status, the server stays up
            job.error, job.state = f"internal error: {type(error).__name__}", "failed"
        job.finished = time.time()
        self._forget_old()

    def _forget_old(self) -> None:
        with self._lock:
            finished = [job for job in self._jobs.values() if job.state in ("done", "failed")]
            for job in finished[: max(0, len(finished) - self.max_kept)]:
                del self._jobs[job.id]

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
