"""What a training run depends on, in one dataclass whose defaults the ``impasto train`` command reuses.

Kept free of torch, so the runtime's command line can read the defaults without the export extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Settings that may change between a run and its resumption without changing what has been computed so far.
RESUMABLE_CHANGES = {"iterations", "checkpoint_every", "preview_every", "device", "work_dir", "out_dir", "opset"}
# The shared photos that are never trained on, so that quality can be measured on unseen images.
HELD_OUT = ("astronaut", "chelsea", "coffee", "tubingen")


@dataclass
class TrainSettings:
    name: str
    style: str
    content_dir: str
    work_dir: str
    out_dir: str
    exclude: list[str] = field(default_factory=lambda: list(HELD_OUT))
    architecture: str = "light"
    size: int = 256
    style_size: int = 512
    batch_size: int = 4
    iterations: int = 2000
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1e-4
    min_scale: float = 0.5
    seed: int = 0
    checkpoint_every: int = 100
    preview_every: int = 200
    device: str = "cpu"
    opset: int = 18

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in RESUMABLE_CHANGES}
