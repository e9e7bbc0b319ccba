"""What an optimisation run is asked to do, checked before any work; the command line's defaults are these."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.color import PRESERVE_COLOR_MODES

if TYPE_CHECKING:
    from impasto.runtime.gatys.loss_model import GatysLossModel

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
DEFAULT_MODEL = "vgg16-avg"  # the loss graph used when none is named


@dataclass
class OptimizeSettings:
    """One optimisation: ``size`` in pixels (long side, or (height, width)); ``iters`` L-BFGS/Adam iterations at the
    coarsest scale; weights α, β, γ (None: the loss graph's defaults); ``init`` content/noise/style; ``style_scale``
    the style image's size relative to the output; ``style_blend`` one weight per style; ``preserve_color``
    luminance/histogram; ``learning_rate`` Adam's step in 0–255 pixel units; ``scales`` coarse-to-fine scales (None:
    automatic). ``validate`` raises ImpastoError for a setting that cannot work."""

    size: int | tuple[int, int] = 512  # long side of the result, or its exact (height, width)
    iters: int = 300
    optimizer: str = "lbfgs"
    content_weight: float | None = None  # None: the model's default, from its metadata
    style_weight: float | None = None
    tv_weight: float | None = None
    init: str = "content"
    seed: int = 0
    style_scale: float = 1.0
    style_blend: list[float] | None = None
    preserve_color: str | None = None
    learning_rate: float = 10.0
    scales: int | None = None  # None: as many as COARSEST_SIDE allows

    def validate(self, model: GatysLossModel, n_styles: int) -> None:
        """Raise ImpastoError for a setting that cannot work, before any optimisation runs."""
        smallest = min(self.size) if isinstance(self.size, tuple) else self.size
        if smallest < model.min_side:
            shown = f"{self.size[0]}x{self.size[1]}" if isinstance(self.size, tuple) else self.size
            raise ImpastoError(f"--size must be at least {model.min_side} pixels a side for this model, not {shown}")
        if self.iters < 1:
            raise ImpastoError(f"--iters must be at least 1, not {self.iters}")
        if self.optimizer not in OPTIMIZERS:
            raise ImpastoError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.init not in INITS:
            raise ImpastoError(f"--init must be one of {', '.join(INITS)}, not {self.init!r}")
        for flag, value in (
            ("--content-weight", self.content_weight),
            ("--style-weight", self.style_weight),
            ("--tv-weight", self.tv_weight),
        ):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ImpastoError(f"{flag} must be a finite number ≥ 0, not {value}")
        if not (math.isfinite(self.style_scale) and self.style_scale > 0):
            raise ImpastoError(f"--style-scale must be > 0, not {self.style_scale}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ImpastoError(f"--learning-rate must be > 0, not {self.learning_rate}")
        if n_styles < 1:
            raise ImpastoError("at least one --style image is needed")
        if self.style_blend is not None:
            if len(self.style_blend) != n_styles:
                raise ImpastoError(f"{len(self.style_blend)} blend weights given for {n_styles} style images")
            if any(not (math.isfinite(b) and b > 0) for b in self.style_blend):
                raise ImpastoError("style blend weights must be > 0")
        if self.preserve_color not in (None, *PRESERVE_COLOR_MODES):
            raise ImpastoError(f"--preserve-color must be one of {', '.join(PRESERVE_COLOR_MODES)}")
        if self.scales is not None and self.scales < 1:
            raise ImpastoError(f"--scales must be at least 1, not {self.scales}")
