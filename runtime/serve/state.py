"""What every route of one app shares (settings, metrics, model pool, slots, job queue), kept on ``app.state`` so
routes live in their own modules and reach it through the request instead of through a closure."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from impasto.runtime.serve.admission import Slots
from impasto.runtime.serve.jobs import JobQueue
from impasto.runtime.serve.metrics import ServerMetrics
from impasto.runtime.serve.models import ModelPool
from impasto.runtime.serve.settings import ServeSettings


@dataclass
class ServerState:
    """One app's shared state. ``jobs`` stays None until the first job request (the loss graph is large)."""

    settings: ServeSettings
    metrics: ServerMetrics
    pool: ModelPool
    slots: Slots
    jobs: JobQueue | None = None
    _jobs_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: ServeSettings) -> ServerState:
        """Fresh state for an app with ``settings``: its own metrics registry, model pool and worker threads."""
        metrics = ServerMetrics()
        return cls(settings, metrics, ModelPool(settings), Slots(settings, metrics))

    def job_queue(self) -> JobQueue:
        """The Gatys job queue, opening the loss graph on first use."""
        with self._jobs_lock:
            if self.jobs is None:
                from impasto.runtime.gatys.loss_model import GatysLossModel

                model = GatysLossModel(self.settings.loss_model, self.settings.session)
                self.jobs = JobQueue(model, self.settings.max_jobs)
            return self.jobs

    def shutdown(self) -> None:
        """Stop the stylisation workers and the job worker without waiting for them."""
        self.slots.shutdown()
        if self.jobs is not None:
            self.jobs.shutdown()


def server_state(connection: HTTPConnection) -> ServerState:
    """The state of the app serving ``connection`` (a Request or a WebSocket)."""
    return connection.app.state.server
