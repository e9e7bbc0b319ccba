"""Ctrl-C that waits for the end of a training step.

A KeyboardInterrupt raised wherever the signal lands can split a step: the crop sampler has drawn the batch but the
weights, Adam's moments and the step counter have not moved yet, or Adam has updated some tensors and not others. A
checkpoint of that state resumes to other weights than an uninterrupted run. So the first SIGINT only asks the loop
to stop at the next step boundary, where the state is whole; a second one, while a step is being computed, stops at
once, leaving the last checkpoint (always written whole, between steps) to resume from.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StepBoundaryInterrupt:
    """Use as a context manager around the training loop; ``requested`` is True once Ctrl-C was pressed."""

    def __init__(self) -> None:
        self.requested = False
        self.forcible = False  # True only while a step is computed: a second Ctrl-C may abandon it
        self.previous = None
        self.installed = False

    def __enter__(self) -> StepBoundaryInterrupt:
        # Only the main thread receives signals; a process started with SIGINT ignored (`cmd &`) stays so.
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:
                self.previous = signal.signal(signal.SIGINT, self._handle)
                self.installed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)
            self.installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self.forcible:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def step(self) -> Iterator[None]:
        """The body of one step, where a second Ctrl-C may stop at once (nothing is being written)."""
        self.forcible = True
        try:
            yield
        finally:
            self.forcible = False
