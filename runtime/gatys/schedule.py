"""Coarse-to-fine schedules: the scales an optimisation visits, each scale's iteration cap, and when a scale has
stopped improving.

A scale is an image whose long side is half the next one's; the first scale arranges the painting's large
structures cheaply (an evaluation at half the side costs a quarter), the later ones add detail from an upsampled
start. The presets are the schedules ``benchmarks/gatys_fast.py`` measured on the comparison-sheet pairs
(benchmarks/RESULTS.md, "Gatys in a minute").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COARSEST_SIDE = 384  # the custom schedule (--iters/--scales) halves the size while the half is at least this long


@dataclass(frozen=True)
class Preset:
    """A measured schedule: scales halve from the result's long side while the half is at least ``coarsest``
    pixels (and once at least, where the half keeps the model's smallest side); ``coarse_iters`` /
    ``middle_iters`` / ``final_iters`` cap the first, the in-between and the last scale (a one-scale run takes
    ``coarse_iters``); a scale ends early once ``patience`` iterations lowered the objective by less than
    ``tolerance`` (a fraction) in all."""

    coarsest: int
    coarse_iters: int
    middle_iters: int
    final_iters: int
    patience: int
    tolerance: float
    init: str  # the start image: a key of settings.INITS


PRESETS: dict[str, Preset] = {
    "fast": Preset(coarsest=128, coarse_iters=100, middle_iters=50, final_iters=60, patience=10, tolerance=0.005,
                   init="content"),
    "balanced": Preset(coarsest=128, coarse_iters=100, middle_iters=50, final_iters=150, patience=10,
                       tolerance=0.002, init="content"),
    "best": Preset(coarsest=128, coarse_iters=150, middle_iters=80, final_iters=300, patience=20, tolerance=0.0005,
                   init="content"),
}  # fmt: skip
DEFAULT_PRESET = "balanced"


@dataclass(frozen=True)
class Scale:
    """One step of a schedule: the long side in pixels and the iteration cap."""

    long_side: int
    iters: int


@dataclass(frozen=True)
class Schedule:
    """The scales from coarse to fine and the early stop shared by all of them (``patience`` 0: never)."""

    scales: tuple[Scale, ...]
    patience: int = 0
    tolerance: float = 0.0

    @property
    def iterations(self) -> int:
        """The most iterations the schedule can take (early stops only shorten it)."""
        return sum(scale.iters for scale in self.scales)

    def cost(self) -> int:
        """Pixels² × iterations summed over the scales (long side squared): the work's upper bound, which is
        what a server's job budget is measured in."""
        return sum(scale.long_side * scale.long_side * scale.iters for scale in self.scales)

    def full_size_iterations(self) -> list[float]:
        """Each scale's cap counted in iterations at the result's size (an evaluation's cost grows with the
        pixels), so that progress and its time estimate move evenly."""
        final = self.scales[-1].long_side
        return [scale.iters * (scale.long_side / final) ** 2 for scale in self.scales]


def smallest_long_side(min_side: int, aspect: float) -> int:
    """The least long side at which an image of ``aspect`` (long side / short side, ≥ 1) keeps ``min_side``
    pixels on its short side."""
    return math.ceil(min_side * max(1.0, aspect) - 1e-9)


def halving_sides(size: int, min_side: int, coarsest: int, scales: int | None = None) -> list[int]:
    """Long sides from coarse to fine, each twice the previous, ending at ``size``: ``scales`` of them, or as
    many as keep the first at least ``coarsest``; never below ``min_side`` (a long side: see
    ``smallest_long_side`` for a thin image)."""
    sides = [size]
    while (len(sides) < scales) if scales else (sides[0] // 2 >= coarsest):
        if sides[0] // 2 < min_side:
            break
        sides.insert(0, sides[0] // 2)
    return sides


def preset_schedule(preset: Preset, size: int, min_side: int, aspect: float = 1.0) -> Schedule:
    """``preset``'s scales for a result of long side ``size`` and ``aspect`` (long / short side), whose short
    side must stay at least ``min_side``."""
    smallest = smallest_long_side(min_side, aspect)
    sides = halving_sides(size, smallest, preset.coarsest)
    if len(sides) == 1 and size // 2 >= smallest:  # below 2 × coarsest: still one coarser scale, so that a
        sides.insert(0, size // 2)  # smaller result never plans more work than a larger one
    caps = [preset.coarse_iters] + [preset.middle_iters] * (len(sides) - 2) + [preset.final_iters] * (len(sides) > 1)
    scales = tuple(Scale(side, cap) for side, cap in zip(sides, caps, strict=True))
    return Schedule(scales, preset.patience, preset.tolerance)


def custom_schedule(iters: int, scales: int | None, size: int, min_side: int, aspect: float = 1.0) -> Schedule:
    """The schedule of ``--iters``/``--scales``: ``iters`` at the first scale, half as many at each finer one
    (it starts near a solution), scales down to COARSEST_SIDE unless ``scales`` is given; no early stop."""
    sides = halving_sides(size, smallest_long_side(min_side, aspect), COARSEST_SIDE, scales)
    caps = [iters] + [max(1, iters // 2)] * (len(sides) - 1)
    return Schedule(tuple(Scale(side, cap) for side, cap in zip(sides, caps, strict=True)))


class Plateau:
    """Tells when the objective has stopped improving: the last ``patience`` iterations lowered it by less than
    ``tolerance`` of its value before them. ``patience`` 0 never stops."""

    def __init__(self, patience: int, tolerance: float) -> None:
        self.patience, self.tolerance = patience, tolerance
        self.losses: list[float] = []

    def reached(self, loss: float) -> bool:
        self.losses.append(loss)
        if self.patience < 1 or len(self.losses) <= self.patience:
            return False
        before = self.losses[-self.patience - 1]
        return before - loss < self.tolerance * abs(before)
