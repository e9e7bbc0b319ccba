"""What an optimisation run is asked to do, checked before any work; the command line's defaults are these."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.schedule import DEFAULT_PRESET, PRESETS, Schedule, custom_schedule, preset_schedule
from impasto.runtime.media.color import PRESERVE_COLOR_MODES

if TYPE_CHECKING:
    from impasto.runtime.gatys.loss_model import GatysLossModel

OPTIMIZERS = ("lbfgs", "adam")
PARAMETERIZATIONS = ("pixels", "pyramid")
# palette: the content recoloured to the painting's colours; net: a shipped net's result for that painting
INITS = ("content", "palette", "net", "noise", "style")
DEFAULT_ITERS = 300  # --iters without --preset: the classic single-schedule run
DEFAULT_MODEL = "vgg16-avg"  # the loss graph used when none is named


@dataclass
class OptimizeSettings:
    """One optimisation: ``size`` in pixels (long side, or (height, width)); ``preset`` a measured coarse-to-fine
    schedule (schedule.PRESETS; None: DEFAULT_PRESET, unless ``iters``/``scales`` ask for the custom one:
    ``iters`` L-BFGS/Adam iterations at the coarsest of ``scales`` scales, half as many at each finer one); weights
    α, β, γ (None: the loss graph's defaults); ``init`` content/palette/net/noise/style (None: the preset's);
    ``style_scale`` the style image's size relative to the output; ``style_blend`` one weight per style;
    ``preserve_color`` luminance/histogram; ``learning_rate`` Adam's step in 0–255 pixel units. ``validate``
    raises ImpastoError for a setting that cannot work."""

    size: int | tuple[int, int] = 512  # long side of the result, or its exact (height, width)
    preset: str | None = None  # None: DEFAULT_PRESET, unless iters or scales are given
    iters: int | None = None  # None: the preset's caps
    optimizer: str = "lbfgs"
    content_weight: float | None = None  # None: the model's default, from its metadata
    style_weight: float | None = None
    tv_weight: float | None = None
    init: str | None = None  # None: the preset's start (content for the custom schedule)
    seed: int = 0
    style_scale: float = 1.0
    style_blend: list[float] | None = None
    preserve_color: str | None = None
    learning_rate: float = 10.0
    parameterization: str = "pixels"  # what L-BFGS/Adam moves: the pixels, or a Laplacian pyramid (pyramid)
    scales: int | None = None  # None: the preset's; with iters alone, as many as schedule.COARSEST_SIDE allows

    @property
    def long_side(self) -> int:
        """The result's long side: ``size``, or the longer of an exact (height, width)."""
        return max(self.size) if isinstance(self.size, tuple) else self.size

    @property
    def schedule_name(self) -> str:
        """The preset a run uses, or ``custom`` when ``iters``/``scales`` replace the presets."""
        return "custom" if self.custom else self.preset or DEFAULT_PRESET

    @property
    def custom(self) -> bool:
        """True when ``iters``/``scales`` replace the presets' schedules."""
        return self.iters is not None or self.scales is not None

    def schedule(self, long_side: int, min_side: int, shape: tuple[int, ...] | None = None) -> Schedule:
        """The scales and iteration caps for a result of long side ``long_side`` whose short side must stay at
        least ``min_side``: the content's ``shape`` (height, width, …) gives the aspect ratio (None: square, or
        the exact (height, width) ``size``)."""
        if isinstance(self.size, tuple):
            shape = self.size
        aspect = max(shape[:2]) / max(1, min(shape[:2])) if shape is not None else 1.0
        if self.custom:
            return custom_schedule(self.iters or DEFAULT_ITERS, self.scales, long_side, min_side, aspect)
        return preset_schedule(PRESETS[self.preset or DEFAULT_PRESET], long_side, min_side, aspect)

    def start(self) -> str:
        """The start image's kind: ``init``, else the preset's, else the content."""
        if self.init is not None:
            return self.init
        return "content" if self.custom else PRESETS[self.preset or DEFAULT_PRESET].init

    def validate(self, model: GatysLossModel, n_styles: int) -> None:
        """Raise ImpastoError for a setting that cannot work, before any optimisation runs."""
        smallest = min(self.size) if isinstance(self.size, tuple) else self.size
        if smallest < model.min_side:
            shown = f"{self.size[0]}x{self.size[1]}" if isinstance(self.size, tuple) else self.size
            raise ImpastoError(f"--size must be at least {model.min_side} pixels a side for this model, not {shown}")
        self.check()
        if n_styles < 1:
            raise ImpastoError("at least one --style image is needed")
        if self.style_blend is not None and len(self.style_blend) != n_styles:
            raise ImpastoError(f"{len(self.style_blend)} blend weights given for {n_styles} style images")

    def check(self) -> None:
        """The checks that need no model or images (a command runs them before it opens the loss graph);
        ImpastoError for the first setting that cannot work."""
        if self.preset is not None and self.preset not in PRESETS:
            raise ImpastoError(f"--preset must be one of {', '.join(PRESETS)}, not {self.preset!r}")
        if self.preset is not None and self.custom:
            given = "--iters" if self.iters is not None else "--scales"
            raise ImpastoError(
                f"--preset {self.preset} sets the iterations and scales; give --preset or {given}, not both"
            )
        if self.iters is not None and self.iters < 1:
            raise ImpastoError(f"--iters must be at least 1, not {self.iters}")
        if self.optimizer not in OPTIMIZERS:
            raise ImpastoError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ImpastoError(
                f"--parameterization must be one of {', '.join(PARAMETERIZATIONS)}, not {self.parameterization!r}"
            )
        if self.init is not None and self.init not in INITS:
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
        if self.style_blend is not None and any(not (math.isfinite(b) and b > 0) for b in self.style_blend):
            raise ImpastoError("style blend weights must be > 0")
        if self.preserve_color not in (None, *PRESERVE_COLOR_MODES):
            raise ImpastoError(f"--preserve-color must be one of {', '.join(PRESERVE_COLOR_MODES)}")
        if self.scales is not None and self.scales < 1:
            raise ImpastoError(f"--scales must be at least 1, not {self.scales}")
