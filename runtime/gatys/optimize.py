"""Gatys et al. (2016) image optimisation, every loss and gradient evaluated by onnxruntime.

L-BFGS-B is scipy's (with the pixel bounds 0–255 built in), the optimiser Gatys et al. used. Adam is written out
here in numpy because no maintained numpy Adam exists; it follows torch.optim.Adam's update to the letter and
projects onto 0–255 after each step. Large outputs go coarse to fine: optimise at a fraction of the size, upsample
the result, and continue, so the full-size run starts from an image that already has the style's large structures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class OptimizeResult:
    """The optimised image (H×W×3 RGB float32 0–255) and every iteration's loss parts."""

    image: np.ndarray  # H×W×3 RGB float32 0–255
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per iteration: scale, loss parts


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
) -> OptimizeResult:
    """Stylise ``content`` (H×W×3 RGB 0–255) with ``styles``; the result's long side is ``settings.size``.

    ``on_progress(done, total)`` is called after every iteration (the server's jobs report it)."""
    settings = settings or OptimizeSettings()
    preflight(model, content, styles, settings)
    content, final_side = exact_content(content, settings)
    weights: LossWeights = model.weights(settings.content_weight, settings.style_weight, settings.tv_weight)
    blend = settings.style_blend or [1.0] * len(styles)
    original = content
    if settings.preserve_color == "luminance":
        content, styles = luminance_image(content), [match_luminance(style, content) for style in styles]
    elif settings.preserve_color == "histogram":
        styles = [match_color_histogram(style, content) for style in styles]

    sizes = plan_sizes(final_side, settings.scales, model.min_side)
    iterations = plan_iterations(settings.iters, len(sizes))
    result = OptimizeResult(image=content)
    current = content
    total, done = sum(iterations), [0]  # done: iterations so far (the bar's own count stays 0 when it is off)
    with tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True) as bar:
        for index, (long_side, iters) in enumerate(zip(sizes, iterations, strict=True)):
            scaled_content = resize_long_side(content, long_side)
            style_side = max(1, round(long_side * settings.style_scale))
            scaled_styles = [resize_long_side(style, style_side) for style in styles]
            targets = blend_targets(
                model.targets(scaled_content), [model.targets(style) for style in scaled_styles], blend
            )
            height, width = scaled_content.shape[:2]
            if index == 0:
                start = _initial_image(settings.init, scaled_content, scaled_styles[0], settings.seed)
            else:
                start = resize(current, (width, height))
            bar.set_description(f"scale {index + 1}/{len(sizes)} {width}×{height}")

            def on_step(evaluation: Evaluation, scale: int = index) -> None:
                result.history.append(
                    {
                        "scale": scale,
                        "loss": evaluation.loss,
                        "content": evaluation.content,
                        "style": evaluation.style,
                        "tv": evaluation.tv,
                    }  # fmt: skip
                )
                bar.set_postfix(loss=f"{evaluation.loss:.4g}", style=f"{evaluation.style:.3g}", refresh=False)
                bar.update(1)
                done[0] += 1
                if on_progress:
                    on_progress(done[0], total)

            def evaluate(image: np.ndarray, targets=targets) -> Evaluation:
                return model.evaluate(image, targets, weights)

            x = to_nchw(start)
            if settings.optimizer == "lbfgs":
                x = run_lbfgs(evaluate, x, iters, on_step)
            else:
                x = run_adam(evaluate, x, iters, on_step, settings.learning_rate)
            done[0] = sum(iterations[: index + 1])  # L-BFGS may stop early; keep the bar honest
            bar.update(done[0] - bar.n)
            if on_progress:
                on_progress(done[0], total)
            current = to_hwc(x)

    image = current
    if settings.preserve_color == "luminance":
        image = restore_chroma(image, resize(original, (image.shape[1], image.shape[0])))
    result.image = image
    return result
