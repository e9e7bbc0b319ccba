"""Admission control, so a busy server answers 503 at once instead of growing a backlog.

``slots`` stylisations run on worker threads; up to ``queue`` more requests wait for one; the rest are turned away
with Retry-After. Memory therefore stays bounded by (slots + queue) × upload limit. Each admitted request also has a
time limit (504).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.metrics import ServerMetrics
from impasto.runtime.serve.settings import ServeSettings

T = TypeVar("T")


@dataclass
class Place:
    """A request's place in the queue; ``queued`` until its work gets a slot."""

    queued: bool = True


class Slots:
    """Admission control: ``slots`` requests run, ``queue`` wait, the rest are turned away at once."""

    def __init__(self, settings: ServeSettings, metrics: ServerMetrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.executor = ThreadPoolExecutor(max_workers=settings.slots, thread_name_prefix="impasto-stylize")
        self._semaphore: asyncio.Semaphore | None = None  # made on first use, inside the server's event loop
        self.waiting = 0  # requests holding a queue place (reading their upload, or waiting for a slot)
        self.running = 0  # requests whose work holds a slot

    def admit(self) -> None:
        """503 now if a request would have to be turned away; called before an upload is read, so a full server
        does not buffer bodies it will refuse."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.slots)
        if self.waiting + self.running >= self.settings.slots + self.settings.queue:
            raise ApiError(
                503, "overloaded", f"{self.running} of {self.settings.slots} slots busy and {self.waiting} requests "
                "waiting; retry", {"Retry-After": str(self.settings.retry_after_s)},
            )  # fmt: skip

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[Place]:
        """A place in the queue from before a request's body is read until its work has a slot (503 at once when
        there is none): a body counts against the queue from its first byte, so (slots + queue) × upload limit
        bounds the memory uploads hold, however slowly they arrive. Hand it to :meth:`run`."""
        self.admit()
        place = Place()
        self._queue(+1)
        try:
            yield place
        finally:
            if place.queued:
                self._queue(-1)

    def _queue(self, change: int) -> None:
        self.waiting += change
        self.metrics.queue_depth.set(self.waiting)

    async def run(self, work: Callable[[], T], place: Place | None = None) -> T:
        """``work()`` on a worker thread, once a slot is free; 503 when the queue is full, 504 past the limit.
        ``place``: the queue place this request already holds (:meth:`place`), else one is taken now."""
        if place is None:
            self.admit()
            place = Place()
            self._queue(+1)
        try:
            await self._semaphore.acquire()
        finally:
            place.queued = False
            self._queue(-1)
        self.running += 1
        self.metrics.in_flight.inc()
        future = asyncio.get_running_loop().run_in_executor(self.executor, work)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"took longer than {self.settings.timeout_s:g} s") from None
        finally:
            # the slot is free only when the thread is, so a timed-out request cannot oversubscribe the workers
            future.add_done_callback(lambda _: self._free_slot())

    def _free_slot(self) -> None:
        self.running -= 1
        self._semaphore.release()
        self.metrics.in_flight.dec()

    def shutdown(self) -> None:
        """Stop the workers without waiting for them (the app is shutting down)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
