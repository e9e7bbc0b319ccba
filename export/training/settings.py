"""What a training run depends on, in one dataclass whose defaults the ``impasto train`` command reuses.

Kept free of torch, so the runtime's command line can read the defaults without the export extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Settings that may change between a run and its resumption without changing what has been computed so far.
RESUMABLE_CHANGES = {
    "iterations",
    "checkpoint_every",
    "preview_every",
    "device",
    "work_dir",
    "out_dir",
    "opset",
    "base",
}  # fmt: skip  (the base is identified by its checksum: its path may move)
# Settings added after checkpoints were written, with the value every earlier checkpoint had
ADDED_LATER = {"base_sha256": ""}
# The architectures of export/training/transformer.py (the shipped two and issue 11's light v2 candidates), named
# here so the command line can offer them without torch; a test holds the two lists equal.
ARCHITECTURE_NAMES = ("light", "full", "light2-8", "light2-8-reflect", "light2-16", "light2-16-reflect")
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
    architecture: str = "light2-8"  # issue 11's light v2: no 2-px grid (benchmarks/RESULTS.md)
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
    # paintings of a net of several styles (conditional instance normalisation, one row of scale and bias each;
    # Dumoulin et al. 2017); empty: the one-style net of ``style``. Batches go round the styles in turn.
    styles: list[str] = field(default_factory=list)
    # a net of several styles (its fp32 ONNX file) to add ``styles`` to: only their normalisation rows are trained,
    # on top of the base's frozen weights (``impasto train --add-style``); empty: a whole net is trained
    base: str = ""
    base_sha256: str = ""  # the base file's checksum: a resumed run must extend the very same weights

    def paintings(self) -> list[str]:
        """The style images this run learns, in style-index order."""
        return list(self.styles) or [self.style]

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in RESUMABLE_CHANGES}
