"""Admission control, so a busy server answers 503 at once instead of growing a backlog.

``slots`` stylisations run on worker threads; up to ``queue`` more requests wait for one; the rest are turned away
with Retry-After. Memory therefore stays bounded by (slots + queue) × upload limit. Each admitted request also has a
time limit (504).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.metrics import ServerMetrics
from impasto.runtime.serve.settings import ServeSettings

T = TypeVar("T")


class Slots:
    """Admission control: ``slots`` requests run, ``queue`` wait, the rest are turned away at once."""

    def __init__(self, settings: ServeSettings, metrics: ServerMetrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.executor = ThreadPoolExecutor(max_workers=settings.slots, thread_name_prefix="impasto-stylize")
        self._semaphore: asyncio.Semaphore | None = None  # made on first use, inside the server's event loop
        self.waiting = 0

    def admit(self) -> None:
        """503 now if a request would have to be turned away; called before an upload is read, so a full server
        does not buffer bodies it will refuse."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.slots)
        if self._semaphore.locked() and self.waiting >= self.settings.queue:
            raise ApiError(
                503, "overloaded", f"all {self.settings.slots} slots busy and {self.waiting} requests waiting; retry",
                {"Retry-After": str(self.settings.retry_after_s)},
            )  # fmt: skip

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on a worker thread, once a slot is free; 503 when the queue is full, 504 past the limit."""
        self.admit()
        self.waiting += 1
        self.metrics.queue_depth.set(self.waiting)
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
            self.metrics.queue_depth.set(self.waiting)
        self.metrics.in_flight.inc()
        future = asyncio.get_running_loop().run_in_executor(self.executor, work)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"took longer than {self.settings.timeout_s:g} s") from None
        finally:
            # the slot is free only when the thread is, so a timed-out request cannot oversubscribe the workers
            future.add_done_callback(lambda _: (self._semaphore.release(), self.metrics.in_flight.dec()))

    def shutdown(self) -> None:
        """Stop the workers without waiting for them (the app is shutting down)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
