"""What ``impasto bench`` is asked to time; the command line's defaults are this dataclass's."""

from __future__ import annotations

from dataclasses import dataclass, field

from impasto.runtime.core.session_config import SessionConfig

MODES = ("host", "iobinding", "cudagraph")


@dataclass
class BenchSpec:
    models: list[str]
    sizes: list[tuple[int, int]]  # (height, width)
    providers: list[str] | None = None  # None: every one available
    precisions: list[str] | None = None  # None: every variant shipped
    modes: list[str] = field(default_factory=lambda: ["host", "iobinding"])
    runs: int = 20
    warmup: int = 3
    session: SessionConfig = field(default_factory=SessionConfig)
