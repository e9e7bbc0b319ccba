"""Gatys et al. (2016) image optimisation, every loss and gradient evaluated by onnxruntime.

L-BFGS-B is scipy's (with the pixel bounds 0–255 built in), the optimiser Gatys et al. used. Adam is written out
here in numpy because no maintained numpy Adam exists; it follows torch.optim.Adam's update to the letter and
projects onto 0–255 after each step. Runs go coarse to fine (``schedule.py``): optimise at a fraction of the size,
upsample the result, and continue, so the full-size run starts from an image that already has the style's large
structures; each scale ends early once its objective plateaus.
Ctrl-C is not a loss of the work done: ``optimize`` raises ``OptimizeInterrupted`` carrying the best image so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import Bounds, minimize
from tqdm import tqdm

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.loss_model import Evaluation, GatysLossModel, LossWeights, blend_targets, to_hwc, to_nchw
from impasto.runtime.gatys.parameterization import Parameterization, Pixels, Pyramid
from impasto.runtime.gatys.schedule import Plateau, Schedule
from impasto.runtime.gatys.settings import INITS, OPTIMIZERS, OptimizeSettings  # noqa: F401 — re-exported
from impasto.runtime.media.color import (
    luminance_image,
    match_color_histogram,
    match_luminance,
    restore_chroma,
)
from impasto.runtime.media.resize import long_side_size, resize, resize_long_side

Evaluate = Callable[[np.ndarray], Evaluation]
OnStep = Callable[[Evaluation], bool]  # after each iteration; True ends the scale (its objective has plateaued)
ShouldStop = Callable[[], bool]
LBFGS_HISTORY = 10  # scipy's maxcor: correction pairs kept
OnSnapshot = Callable[[int, np.ndarray], None]  # (iterations done, H×W×3 RGB float32 0–255 at the result's size)


@dataclass
class OptimizeResult:
    """The optimised image (H×W×3 RGB float32 0–255) and every iteration's loss parts."""

    image: np.ndarray  # H×W×3 RGB float32 0–255
    history: list[dict[str, float]] = field(default_factory=list)  # per iteration: scale, size, loss parts, seconds


class BestSoFar:
    """The evaluated image of lowest objective at one scale: what an interrupted run hands back, since an L-BFGS
    line search may have just tried a worse point."""

    def __init__(self) -> None:
        self.best: tuple[float, np.ndarray] | None = None

    def offer(self, image: np.ndarray, loss: float) -> None:
        if self.best is None or loss < self.best[0]:
            self.best = (loss, image.copy())  # one assignment: a Ctrl-C never leaves image and loss mismatched


class OptimizeInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``optimize``: ``result`` holds the best image so far at the result's size (None when not one
    iteration was done), ``loss`` its objective at the scale it was found, ``done`` iterations really run of the
    schedule's ``total`` caps (scales that plateaued took fewer than their cap)."""

    def __init__(self, result: OptimizeResult | None, loss: float | None, done: int, total: int) -> None:
        super().__init__(f"interrupted at iteration {done} of {total}")
        self.result, self.loss, self.done, self.total = result, loss, done, total


class OptimizeStopped(Exception):
    """``should_stop()`` said yes: the run was abandoned (a cancelled or timed-out server job) after ``done`` of
    ``total`` iterations. Not a KeyboardInterrupt and not an ImpastoError, so callers tell it from both."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"stopped at iteration {done} of {total}")
        self.done, self.total = done, total


def run_lbfgs(
    evaluate: Evaluate, start: np.ndarray, iters: int, on_step: OnStep, parameterization: Parameterization | None = None
) -> np.ndarray:
    """scipy's L-BFGS-B from the [1, 3, H, W] image ``start`` for ``iters`` iterations or until ``on_step`` says
    the objective has plateaued (scipy's own tolerances off). It moves ``parameterization``'s parameters (the
    pixels, bounded to 0–255, by default) and returns the image they make."""
    param = parameterization or Pixels(start.shape)
    last: list[Evaluation] = []

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        evaluation = evaluate(param.image(params))
        last[:] = [evaluation]
        return evaluation.loss, param.gradient(params, evaluation.grad)

    def callback(intermediate_result) -> None:  # scipy passes the iterate after each iteration
        if on_step(last[0]):
            raise StopIteration  # scipy ends the run and returns this iterate

    result = minimize(
        loss_and_grad,
        param.params(start),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(0.0, 255.0) if param.bounded else None,
        callback=callback,
        options={"maxiter": iters, "maxfun": 3 * iters + 20, "ftol": 0.0, "gtol": 0.0, "maxcor": LBFGS_HISTORY},
    )
    return param.image(result.x)


def run_adam(
    evaluate: Evaluate,
    start: np.ndarray,
    iters: int,
    on_step: OnStep,
    lr: float,
    parameterization: Parameterization | None = None,
) -> np.ndarray:
    """torch.optim.Adam's update (β = 0.9, 0.999, ε = 1e-8) on ``parameterization``'s parameters (the pixels by
    default, then projected onto 0–255); ``lr`` is in 0–255 pixel levels, divided by the parameterisation's
    ``pixel_scale`` into its own units."""
    param = parameterization or Pixels(start.shape)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    x = param.params(start)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for step in range(1, iters + 1):
        evaluation = evaluate(param.image(x))
        grad = param.gradient(x, evaluation.grad)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - beta2**step) + eps
        x = x - (lr / param.pixel_scale / (1 - beta1**step)) * m / denom
        if param.bounded:
            x = np.clip(x, 0.0, 255.0)
        if on_step(evaluation):
            break
    return param.image(x)


def check_scaled_sizes(
    content: np.ndarray, styles: list[np.ndarray], long_side: int, settings: OptimizeSettings, min_side: int
) -> None:
    """Refuse a scale at which the content (at ``long_side``) or a style (``style_scale`` times it) is too small."""
    style_side = max(1, round(long_side * settings.style_scale))
    sized = [("the content image", long_side_size(content.shape, long_side))]
    sized += [("a style image", long_side_size(style.shape, style_side)) for style in styles]
    for what, (width, height) in sized:
        if min(width, height) < min_side:
            raise ImpastoError(
                f"{what} is {width}×{height} pixels at long side {long_side} (--size, "
                f"--style-scale, --scales); this model needs at least {min_side} per side"
            )


def exact_content(content: np.ndarray, settings: OptimizeSettings) -> tuple[np.ndarray, int]:
    """The content image and the result's long side: an exact (height, width) ``size`` resizes the content to it
    first (the optimisation then runs by long side as usual)."""
    if isinstance(settings.size, tuple):
        height, width = settings.size
        return resize(content, (width, height)), settings.long_side
    return content, settings.long_side


def preflight(model: GatysLossModel, content: np.ndarray, styles: list[np.ndarray], settings: OptimizeSettings) -> None:
    """Every check of settings and image sizes, before any work, so that a mistake costs nothing."""
    settings.validate(model, len(styles))
    content, final_side = exact_content(content, settings)
    for scale in settings.schedule(final_side, model.min_side, content.shape).scales:
        check_scaled_sizes(content, styles, scale.long_side, settings, model.min_side)
    if settings.start() == "net" and len(styles) != 1:
        raise ImpastoError(f"--init net starts from one painting's net; {len(styles)} style images given")


def initial_image(init: str, content: np.ndarray, style: np.ndarray, seed: int) -> np.ndarray:
    """The first scale's start (H×W×3 RGB float32 0–255, the content's size): the content; the content
    recoloured to the painting's colour mean and covariance (``palette``); uniform noise; or the painting.
    (``net`` is the caller's ``start_image``, made by ``nets.painting_start.net_start``.)"""
    if init == "content":
        return content.copy()
    if init == "palette":
        return match_color_histogram(content, style)
    if init == "style":
        return resize(style, (content.shape[1], content.shape[0]))
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=content.shape).astype(np.float32)


def optimize(
    model: GatysLossModel,
    content: np.ndarray,
    styles: list[np.ndarray],
    settings: OptimizeSettings | None = None,
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: ShouldStop | None = None,
    snapshot_every: int = 0,
    on_snapshot: OnSnapshot | None = None,
    start_image: np.ndarray | None = None,
) -> OptimizeResult:
    """Stylise ``content`` (H×W×3 RGB 0–255) with ``styles``; the result's long side is ``settings.size``.

    The scales and their iteration caps come from ``settings.schedule`` (a preset, or --iters/--scales); a scale
    ends early when its objective plateaus. ``on_progress(done, total)`` is called after every iteration (the
    server's jobs report it; a scale that ends early jumps ``done`` to its cap). ``on_snapshot(done, image)``
    gets the best image so far, at the result's size, every ``snapshot_every`` iterations. ``start_image``
    (H×W×3 RGB 0–255, any size; needed for ``init="net"``: ``nets.painting_start.net_start``) is the first
    scale's start, resized to it. Ctrl-C raises ``OptimizeInterrupted`` with the best image so far, so a long run
    stopped early still gives its result.
    ``should_stop()`` is asked before every loss evaluation and after every iteration (so a server can cancel a job
    or end one past its time within one iteration); once it answers True, ``OptimizeStopped`` is raised."""
    settings = settings or OptimizeSettings()
    preflight(model, content, styles, settings)
    content, final_side = exact_content(content, settings)
    original = content
    if settings.preserve_color == "luminance":
        content, styles = luminance_image(content), [match_luminance(style, content) for style in styles]
    elif settings.preserve_color == "histogram":
        styles = [match_color_histogram(style, content) for style in styles]
    schedule = settings.schedule(final_side, model.min_side, content.shape)
    final_size = long_side_size(content.shape, final_side)  # (width, height) of the result

    def finish(image: np.ndarray) -> np.ndarray:
        return _finish(image, original, settings, final_size)

    if settings.start() == "net" and start_image is None:
        raise ImpastoError("init 'net' needs the net's result as start_image (nets.painting_start.net_start)")
    run = _Run(model, settings, styles, schedule, progress, on_progress, should_stop)
    if start_image is not None:
        made = resize(start_image.astype(np.float32), final_size)
        if settings.preserve_color == "luminance":
            made = luminance_image(made)
        elif settings.preserve_color == "histogram":
            made = match_color_histogram(made, original)  # the colours the recoloured style asks for
        run.start_image = made
    if snapshot_every > 0 and on_snapshot is not None:
        run.snapshot = (snapshot_every, lambda done, image: on_snapshot(done, finish(image)))
    current = content
    try:
        with run.bar:
            for index in range(len(schedule.scales)):
                run.best = BestSoFar()
                current = run.scale(content, current, index)
                run.best = BestSoFar()  # the scale is done: its result is ``current``
    except KeyboardInterrupt:
        image, loss = run.salvage(current)
        salvaged = None if image is None else replace(run.result, image=finish(image))
        raise OptimizeInterrupted(salvaged, loss, len(run.result.history), run.total) from None
    run.result.image = finish(current)
    return run.result


class _Run:
    """One optimisation's running state across its scales: loss weights and blend, history, progress, best image."""

    def __init__(
        self,
        model: GatysLossModel,
        settings: OptimizeSettings,
        styles: list[np.ndarray],
        schedule: Schedule,
        progress: bool,
        on_progress: Callable[[int, int], None] | None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.model, self.settings, self.styles, self.schedule = model, settings, styles, schedule
        self.weights: LossWeights = model.weights(settings.content_weight, settings.style_weight, settings.tv_weight)
        self.blend = settings.style_blend or [1.0] * len(styles)
        self.result = OptimizeResult(image=np.zeros((0, 0, 3), np.float32))
        self.best = BestSoFar()
        self.total, self.done = schedule.iterations, 0  # iterations: caps in all, and done so far
        self.on_progress, self.should_stop = on_progress, should_stop
        self.snapshot: tuple[int, OnSnapshot] | None = None
        self.start_image: np.ndarray | None = None  # the caller's start image, at the result's size
        self.started = time.perf_counter()
        # The bar counts work in iterations at the result's size, so its time estimate holds across scales.
        self.work = schedule.full_size_iterations()
        self.bar = tqdm(
            total=round(sum(self.work), 2), disable=not progress, dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
        )  # fmt: skip

    def scale(self, content: np.ndarray, current: np.ndarray, index: int) -> np.ndarray:
        """Optimise at scale ``index`` of the schedule, from the start image (first scale) or ``current``
        upsampled; every evaluated image is offered to ``self.best``. Returns the result, H×W×3."""
        settings, model = self.settings, self.model
        scale = self.schedule.scales[index]
        content = resize_long_side(content, scale.long_side)
        style_side = max(1, round(scale.long_side * settings.style_scale))
        styles = [resize_long_side(style, style_side) for style in self.styles]
        targets = blend_targets(model.targets(content), [model.targets(style) for style in styles], self.blend)
        weights = scale_weights(self.weights, scale.long_side, self.schedule.scales[-1].long_side)
        height, width = content.shape[:2]
        if index == 0 and self.start_image is not None:
            start = resize(self.start_image, (width, height))
        elif index == 0:
            start = initial_image(settings.start(), content, styles[0], settings.seed)
        else:
            start = resize(current, (width, height))
            if settings.start() in CONTENT_STARTS:  # a run begun from noise or the painting is left to itself
                start = add_content_detail(start, content, current.shape)
        count = len(self.schedule.scales)
        plateau = Plateau(self.schedule.patience, self.schedule.tolerance)
        first, step_work = self.done, self.work[index] / scale.iters

        def on_step(evaluation: Evaluation) -> bool:
            self.result.history.append(
                {
                    "scale": index,
                    "size": scale.long_side,
                    "loss": evaluation.loss,
                    "content": evaluation.content,
                    "style": evaluation.style,
                    "tv": evaluation.tv,
                    "seconds": round(time.perf_counter() - self.started, 3),
                }  # fmt: skip
            )
            self.bar.set_postfix(loss=f"{evaluation.loss:.4g}", refresh=False)
            self.bar.set_description(f"scale {index + 1}/{count} {width}×{height} it {self.done + 1 - first}", False)
            self.bar.update(step_work)  # one redraw, with this iteration's count and loss
            self.advance_to(self.done + 1)
            self.snapshot_due()
            self.check_stop()
            return plateau.reached(evaluation.loss)

        def evaluate(image: np.ndarray) -> Evaluation:
            self.check_stop()
            evaluation = model.evaluate(image, targets, weights)
            self.best.offer(image, evaluation.loss)
            return evaluation

        self.bar.set_description(f"scale {index + 1}/{count} {width}×{height}")
        x = to_nchw(start)
        param = Pyramid(x.shape) if settings.parameterization == "pyramid" else Pixels(x.shape)
        if settings.optimizer == "lbfgs":
            x = run_lbfgs(evaluate, x, scale.iters, on_step, param)
        else:
            x = run_adam(evaluate, x, scale.iters, on_step, settings.learning_rate, param)
        self.bar.update(sum(self.work[: index + 1]) - self.bar.n)  # a scale that plateaued skips its rest
        self.advance_to(first + scale.iters)
        return to_hwc(x)

    def check_stop(self) -> None:
        """Raise ``OptimizeStopped`` once ``should_stop()`` says so (raising out of scipy's function or callback
        ends its L-BFGS-B at once)."""
        if self.should_stop is not None and self.should_stop():
            raise OptimizeStopped(self.done, self.total)

    def advance_to(self, done: int) -> None:
        """Count iterations against the caps (the bar counts work itself) and report progress."""
        self.done = done
        if self.on_progress:
            self.on_progress(done, self.total)

    def snapshot_due(self) -> None:
        """Hand the best image so far to the snapshot writer every N iterations really done."""
        done = len(self.result.history)
        if self.snapshot is not None and self.best.best is not None and done % self.snapshot[0] == 0:
            self.snapshot[1](done, to_hwc(self.best.best[1]))

    def salvage(self, current: np.ndarray) -> tuple[np.ndarray | None, float | None]:
        """What an interruption keeps: the best image evaluated at the current scale, else the last finished scale's
        result (interrupted between scales); nothing before the first iteration (it would be the start image)."""
        if self.done == 0:
            return None, None
        if self.best.best is not None:
            loss, image = self.best.best
            return to_hwc(image), loss
        return current, self.result.history[-1]["loss"]


CONTENT_STARTS = ("content", "palette", "net")  # starts that are the content's picture


def scale_weights(weights: LossWeights, long_side: int, final_side: int) -> LossWeights:
    """The weights at a coarse scale: α times (final / long side)², because the content loss sums over
    positions (a quarter as many at half the side) while the style loss is per position (Gram / M); without
    this a coarse scale optimises a balance sixteen times more stylised than the result's and the full size
    spends its iterations pulling the content back (chelsea × great-wave, 512 px: 1.30× instead of 1.74× the
    300-iteration objective after 60 full-size iterations; benchmarks/RESULTS.md)."""
    return replace(weights, content=weights.content * (final_side / long_side) ** 2)


def add_content_detail(upsampled: np.ndarray, content: np.ndarray, coarse_shape: tuple[int, ...]) -> np.ndarray:
    """A finer scale's start: the coarser result upsampled, plus the detail of the content photo that the
    coarser scale could not hold (the content minus its own round trip through the coarse size), clipped to
    0–255. Edges the upsampling blurred come back at once (the first full-size objective 20.7× instead of
    25.4× the 300-iteration one, and 3–6 % lower along the first 60 iterations, in the same measurement)."""
    height, width = content.shape[:2]
    round_trip = resize(resize(content, (coarse_shape[1], coarse_shape[0])), (width, height))
    return np.clip(upsampled + (content - round_trip), 0.0, 255.0)


def _finish(image: np.ndarray, original: np.ndarray, settings: OptimizeSettings, size: tuple[int, int]) -> np.ndarray:
    """The result at its final (width, height), with the content's chroma put back for luminance-only transfer."""
    image = resize(image, size)
    if settings.preserve_color == "luminance":
        image = restore_chroma(image, resize(original, (image.shape[1], image.shape[0])))
    return image
