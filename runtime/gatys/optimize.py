"""Gatys et al. (2016) image optimisation, every loss and gradient evaluated by onnxruntime.

L-BFGS-B is scipy's (with the pixel bounds 0–255 built in), the optimiser Gatys et al. used. Adam is written out
here in numpy because no maintained numpy Adam exists; it follows torch.optim.Adam's update to the letter and
projects onto 0–255 after each step. Large outputs go coarse to fine: optimise at a fraction of the size, upsample
the result, and continue, so the full-size run starts from an image that already has the style's large structures.
Ctrl-C is not a loss of the work done: ``optimize`` raises ``OptimizeInterrupted`` carrying the best image so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import Bounds, minimize
from tqdm import tqdm

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.gatys.loss_model import Evaluation, GatysLossModel, LossWeights, blend_targets, to_hwc, to_nchw
from impasto.runtime.gatys.settings import INITS, OPTIMIZERS, OptimizeSettings  # noqa: F401 — re-exported
from impasto.runtime.media.color import (
    luminance_image,
    match_color_histogram,
    match_luminance,
    restore_chroma,
)
from impasto.runtime.media.resize import long_side_size, resize, resize_long_side

COARSEST_SIDE = 384  # multi-scale halves the size while the half is at least this long
Evaluate = Callable[[np.ndarray], Evaluation]
OnStep = Callable[[Evaluation], None]
ShouldStop = Callable[[], bool]


@dataclass
class OptimizeResult:
    """The optimised image (H×W×3 RGB float32 0–255) and every iteration's loss parts."""

    image: np.ndarray  # H×W×3 RGB float32 0–255
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per iteration: scale, loss parts


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
    iteration was done), ``loss`` its objective at the scale it was found, ``done`` of ``total`` iterations."""

    def __init__(self, result: OptimizeResult | None, loss: float | None, done: int, total: int) -> None:
        super().__init__(f"interrupted at iteration {done} of {total}")
        self.result, self.loss, self.done, self.total = result, loss, done, total


class OptimizeStopped(Exception):
    """``should_stop()`` said yes: the run was abandoned (a cancelled or timed-out server job) after ``done`` of
    ``total`` iterations. Not a KeyboardInterrupt and not an ImpastoError, so callers tell it from both."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"stopped at iteration {done} of {total}")
        self.done, self.total = done, total


def plan_sizes(size: int, scales: int | None, min_side: int) -> list[int]:
    """Long sides from coarse to fine, each twice the previous, ending at ``size``."""
    sizes = [size]
    while (len(sizes) < scales) if scales else (sizes[0] // 2 >= COARSEST_SIDE):
        if sizes[0] // 2 < min_side:
            break
        sizes.insert(0, sizes[0] // 2)
    return sizes


def plan_iterations(iters: int, n_sizes: int) -> list[int]:
    """The coarsest scale gets ``iters``; each finer one half as many, since it starts near a solution."""
    return [iters] + [max(1, iters // 2)] * (n_sizes - 1)


def run_lbfgs(evaluate: Evaluate, start: np.ndarray, iters: int, on_step: OnStep) -> np.ndarray:
    """scipy's L-BFGS-B on the pixels, bounded to 0–255, for ``iters`` iterations (tolerances off)."""
    shape = start.shape
    last: list[Evaluation] = []

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        evaluation = evaluate(x.reshape(shape).astype(np.float32))
        last[:] = [evaluation]
        return evaluation.loss, evaluation.grad.ravel().astype(np.float64)

    def callback(intermediate_result) -> None:  # scipy passes the iterate after each iteration
        on_step(last[0])

    result = minimize(
        loss_and_grad,
        start.ravel().astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(0.0, 255.0),
        callback=callback,
        options={"maxiter": iters, "maxfun": 3 * iters + 20, "ftol": 0.0, "gtol": 0.0, "maxcor": 10},
    )
    return result.x.reshape(shape).astype(np.float32)


def run_adam(evaluate: Evaluate, start: np.ndarray, iters: int, on_step: OnStep, lr: float) -> np.ndarray:
    """torch.optim.Adam's update (β = 0.9, 0.999, ε = 1e-8), then projection onto 0–255."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    x = start.astype(np.float32, copy=True)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for step in range(1, iters + 1):
        evaluation = evaluate(x)
        grad = evaluation.grad
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - beta2**step) + eps
        x = np.clip(x - (lr / (1 - beta1**step)) * m / denom, 0.0, 255.0).astype(np.float32)
        on_step(evaluation)
    return x


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
        return resize(content, (width, height)), max(height, width)
    return content, settings.size


def preflight(model: GatysLossModel, content: np.ndarray, styles: list[np.ndarray], settings: OptimizeSettings) -> None:
    """Every check of settings and image sizes, before any work, so that a mistake costs nothing."""
    settings.validate(model, len(styles))
    content, final_side = exact_content(content, settings)
    for long_side in plan_sizes(final_side, settings.scales, model.min_side):
        check_scaled_sizes(content, styles, long_side, settings, model.min_side)


def _initial_image(init: str, content: np.ndarray, style: np.ndarray, seed: int) -> np.ndarray:
    if init == "content":
        return content.copy()
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
) -> OptimizeResult:
    """Stylise ``content`` (H×W×3 RGB 0–255) with ``styles``; the result's long side is ``settings.size``.

    ``on_progress(done, total)`` is called after every iteration (the server's jobs report it). Ctrl-C raises
    ``OptimizeInterrupted`` with the best image so far, so a long run stopped early still gives its result.
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
    sizes = plan_sizes(final_side, settings.scales, model.min_side)
    iterations = plan_iterations(settings.iters, len(sizes))
    run = _Run(model, settings, styles, sum(iterations), progress, on_progress, should_stop)
    final_size = long_side_size(content.shape, sizes[-1])  # (width, height) of the result
    current = content
    try:
        with run.bar:
            for index, (long_side, iters) in enumerate(zip(sizes, iterations, strict=True)):
                run.best = BestSoFar()
                current = run.scale(content, long_side, current, index, len(sizes), iters)
                run.best = BestSoFar()  # the scale is done: its result is ``current``
                run.advance_to(sum(iterations[: index + 1]))  # L-BFGS may stop early; keep the count honest
    except KeyboardInterrupt:
        image, loss = run.salvage(current)
        salvaged = None if image is None else replace(run.result, image=_finish(image, original, settings, final_size))
        raise OptimizeInterrupted(salvaged, loss, run.done, run.total) from None
    run.result.image = _finish(current, original, settings, final_size)
    return run.result


class _Run:
    """One optimisation's running state across its scales: loss weights and blend, history, progress, best image."""

    def __init__(
        self,
        model: GatysLossModel,
        settings: OptimizeSettings,
        styles: list[np.ndarray],
        total: int,
        progress: bool,
        on_progress: Callable[[int, int], None] | None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.model, self.settings, self.styles = model, settings, styles
        self.weights: LossWeights = model.weights(settings.content_weight, settings.style_weight, settings.tv_weight)
        self.blend = settings.style_blend or [1.0] * len(styles)
        self.result = OptimizeResult(image=np.zeros((0, 0, 3), np.float32))
        self.best = BestSoFar()
        self.total, self.done = total, 0  # done: iterations so far (the bar's own count stays 0 when it is off)
        self.on_progress, self.should_stop = on_progress, should_stop
        self.bar = tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True)

    def scale(
        self, content: np.ndarray, long_side: int, current: np.ndarray, index: int, scales: int, iters: int
    ) -> np.ndarray:
        """Optimise at long side ``long_side``, from the noise/content/style start (first scale) or ``current``
        upsampled; every evaluated image is offered to ``self.best``. Returns the result, H×W×3."""
        settings = self.settings
        content = resize_long_side(content, long_side)
        style_side = max(1, round(long_side * settings.style_scale))
        styles = [resize_long_side(style, style_side) for style in self.styles]
        model = self.model
        targets = blend_targets(model.targets(content), [model.targets(style) for style in styles], self.blend)
        height, width = content.shape[:2]
        if index == 0:
            start = _initial_image(settings.init, content, styles[0], settings.seed)
        else:
            start = resize(current, (width, height))
        self.bar.set_description(f"scale {index + 1}/{scales} {width}×{height}")

        def on_step(evaluation: Evaluation) -> None:
            self.result.history.append(
                {
                    "scale": index,
                    "loss": evaluation.loss,
                    "content": evaluation.content,
                    "style": evaluation.style,
                    "tv": evaluation.tv,
                }  # fmt: skip
            )
            self.bar.set_postfix(loss=f"{evaluation.loss:.4g}", style=f"{evaluation.style:.3g}", refresh=False)
            self.advance_to(self.done + 1)
            self.check_stop()

        def evaluate(image: np.ndarray) -> Evaluation:
            self.check_stop()
            evaluation = model.evaluate(image, targets, self.weights)
            self.best.offer(image, evaluation.loss)
            return evaluation

        x = to_nchw(start)
        if settings.optimizer == "lbfgs":
            x = run_lbfgs(evaluate, x, iters, on_step)
        else:
            x = run_adam(evaluate, x, iters, on_step, settings.learning_rate)
        return to_hwc(x)

    def check_stop(self) -> None:
        """Raise ``OptimizeStopped`` once ``should_stop()`` says so (raising out of scipy's function or callback
        ends its L-BFGS-B at once)."""
        if self.should_stop is not None and self.should_stop():
            raise OptimizeStopped(self.done, self.total)

    def advance_to(self, done: int) -> None:
        self.done = done
        self.bar.update(done - self.bar.n)  # a no-op when the bar is off
        if self.on_progress:
            self.on_progress(done, self.total)

    def salvage(self, current: np.ndarray) -> tuple[np.ndarray | None, float | None]:
        """What an interruption keeps: the best image evaluated at the current scale, else the last finished scale's
        result (interrupted between scales); nothing before the first iteration (it would be the start image)."""
        if self.done == 0:
            return None, None
        if self.best.best is not None:
            loss, image = self.best.best
            return to_hwc(image), loss
        return current, self.result.history[-1]["loss"]


def _finish(image: np.ndarray, original: np.ndarray, settings: OptimizeSettings, size: tuple[int, int]) -> np.ndarray:
    """The result at its final (width, height), with the content's chroma put back for luminance-only transfer."""
    image = resize(image, size)
    if settings.preserve_color == "luminance":
        image = restore_chroma(image, resize(original, (image.shape[1], image.shape[0])))
    return image
