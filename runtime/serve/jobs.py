"""Gatys optimisation jobs for ``impasto serve``: seconds to minutes each, so they run apart from the requests.

A job place is reserved before its upload is decoded, and only while fewer than ``max_pending`` are reserved, queued
or running (otherwise the caller gets 503), so at most that many uploads are ever being decoded or held. Jobs run
on one worker thread (an optimisation already uses every core), keep going when their client disconnects, report
progress, and stop within one iteration when cancelled or past their time limit. Finished jobs are kept, with their
result, until ``max_kept`` newer ones have finished.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.loss_model import GatysLossModel
from impasto.runtime.gatys.optimize import OptimizeSettings, OptimizeStopped, optimize
from impasto.runtime.gatys.schedule import Schedule
from impasto.runtime.media.encode import encode_image

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "timed_out")


@dataclass
class Job:
    """One job: ``state`` goes queued → running → done | failed | cancelled | timed_out (queued → cancelled too)."""

    id: str
    settings: OptimizeSettings
    schedule: Schedule  # the scales and iteration caps it runs, which its cost was checked on
    timeout_s: float | None = None  # seconds of running before it is stopped (None: no limit)
    owner: str | None = None  # who submitted it (a fingerprint of the API key; None on an open server)
    state: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    result: np.ndarray | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    stopped: threading.Event = field(default_factory=threading.Event, repr=False)  # set once it is finished
    future: Future | None = field(default=None, repr=False)
    encoded: dict[str, bytes] = field(default_factory=dict, repr=False)  # the result per suffix, encoded once
    encoding: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def result_bytes(self, suffix: str) -> bytes:
        """The result encoded as ``suffix`` (worker threads call this): once per format, as a result never changes,
        so 48 concurrent fetches cost one encoding."""
        with self.encoding:
            if suffix not in self.encoded:
                self.encoded[suffix] = encode_image(self.result, suffix)
            return self.encoded[suffix]

    def __post_init__(self) -> None:
        self.total = self.total or self.schedule.iterations  # the caps in all, until the run reports its own

    def status(self) -> dict:
        """The job as JSON: state and progress (iterations against the caps: a scale that stops early jumps to its
        cap), its size, preset (``custom`` for ``iters``), the plan's scales and caps, and the plan's cost."""
        plan = [{"size": scale.long_side, "iters": scale.iters} for scale in self.schedule.scales]
        status = {
            "id": self.id, "state": self.state, "iterations_done": self.done, "iterations_total": self.total,
            "progress": round(self.done / self.total, 4) if self.total else 0.0,
            "size": self.settings.size, "preset": self.settings.schedule_name, "iters": self.settings.iters,
            "plan": plan, "cost": self.schedule.cost(), "created": round(self.created, 3),
        }  # fmt: skip
        if self.state == "running" and self.cancel_requested.is_set():
            status["cancel_requested"] = True
        if self.error:
            status["error"] = self.error
        if self.state == "done":
            status["result"] = f"/v1/jobs/{self.id}/result"
        return status


class Reservation:
    """A job place held while an upload is read and decoded: :meth:`JobQueue.submit` turns it into a job, and
    :meth:`release` (a no-op after that, or a second time) gives it back when the request fails."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue, self.held = queue, True

    def release(self) -> None:
        self._queue._release(self)


class JobQueue:
    def __init__(self, model: GatysLossModel, max_pending: int = 4, max_kept: int = 32) -> None:
        self.model = model
        self.max_pending, self.max_kept = max_pending, max_kept
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._reserved = 0
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-job")

    def _active(self) -> int:
        return self._reserved + sum(job.state in ACTIVE for job in self._jobs.values())

    def pending(self) -> int:
        """Places taken: reserved (upload being read), queued and running jobs."""
        with self._lock:
            return self._active()

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {state: states.count(state) for state in (*ACTIVE, *FINISHED)}

    def reserve(self) -> Reservation | None:
        """A job place, or None when ``max_pending`` are taken: taken before an upload is decoded, so that no more
        than ``max_pending`` uploads are decoded or held at once."""
        with self._lock:
            if self._active() >= self.max_pending:
                return None
            self._reserved += 1
            return Reservation(self)

    def _release(self, reservation: Reservation) -> None:
        with self._lock:
            if reservation.held:
                reservation.held = False
                self._reserved -= 1

    def submit(
        self,
        reservation: Reservation,
        content: np.ndarray,
        styles: list[np.ndarray],
        settings: OptimizeSettings,
        schedule: Schedule,
        timeout_s: float | None = None,
        owner: str | None = None,
    ) -> Job:
        """A new job in the place ``reservation`` held (which it uses up); ``schedule`` is the plan ``settings``
        give, as the caller checked its cost."""
        with self._lock:
            if not reservation.held:
                raise ValueError("the reservation was already used or released")
            reservation.held = False
            self._reserved -= 1
            job = Job(uuid.uuid4().hex, settings, schedule, timeout_s, owner)
            self._jobs[job.id] = job
        job.future = self._worker.submit(self._run, job, content, styles)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, owner: str | None = None, everyone: bool = True) -> list[Job]:
        """The jobs held, oldest first: all of them, or (``everyone`` False) those ``owner`` submitted."""
        with self._lock:
            return [job for job in self._jobs.values() if everyone or job.owner == owner]

    def cancel(self, job: Job) -> bool:
        """Ask ``job`` to stop: a queued one is cancelled at once, a running one stops within an iteration (wait on
        ``job.stopped``). False when it had already finished."""
        with self._lock:
            if job.state not in ACTIVE:
                return False
            job.cancel_requested.set()
            if job.state == "queued":
                job.state, job.finished = "cancelled", time.time()
                job.stopped.set()
                if job.future is not None:
                    job.future.cancel()  # drops its images now instead of when the worker reaches it
        return True

    def _run(self, job: Job, content: np.ndarray, styles: list[np.ndarray]) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while it waited
                return
            job.state, job.started = "running", time.time()
        deadline = None if job.timeout_s is None else time.monotonic() + job.timeout_s

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def should_stop() -> bool:
            return job.cancel_requested.is_set() or (deadline is not None and time.monotonic() > deadline)

        state, error, result = "failed", None, None
        try:
            result = optimize(
                self.model, content, styles, job.settings, progress=False, on_progress=progress, should_stop=should_stop
            ).image
            state = "done"
        except OptimizeStopped as stop:
            if job.cancel_requested.is_set():
                state = "cancelled"
            else:
                state = "timed_out"
                error = (
                    f"stopped after {job.timeout_s:g} s, the time limit of a job (--job-timeout), "
                    f"at iteration {stop.done} of {stop.total}"
                )
        except ImpastoError as failure:
            error = str(failure)
        except Exception as failure:  # noqa: BLE001 — a job's failure is reported in its status, the server stays up
            error = f"internal error: {type(failure).__name__}"
        del content, styles
        with self._lock:
            job.result, job.error, job.finished, job.state = result, error, time.time(), state
        job.stopped.set()
        self._forget_old()

    def _forget_old(self) -> None:
        with self._lock:
            finished = [job for job in self._jobs.values() if job.state in FINISHED]
            for job in finished[: max(0, len(finished) - self.max_kept)]:
                del self._jobs[job.id]

    def shutdown(self) -> None:
        with self._lock:
            running = [job for job in self._jobs.values() if job.state in ACTIVE]
        for job in running:
            job.cancel_requested.set()  # the running optimisation stops at its next iteration
        self._worker.shutdown(wait=False, cancel_futures=True)
