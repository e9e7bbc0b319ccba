"""How good are the shipped nets? Their perceptual loss next to Gatys optimisation of the same loss, on unseen photos.

    python benchmarks/transformer_quality.py --json benchmarks/transformer_quality.json --update-manifest

Johnson et al. (2016) judge a feed-forward net by the objective it was trained on: for each shipped net and each
held-out photo (never in its training set), the content and style loss of the net's one-pass result, and of
L-BFGS optimisation of that same objective (the training's layers, normalisation and weights, computed by the
training code) started from the photo, after 50, 100 and 300 iterations. The net "beats k iterations" when its
total loss is lower. Writes a JSON, a PNG plot, and (with --update-manifest) each net's figures into
models/manifest.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

from impasto.export.lossgraph.weights import resolve_vgg16_weights
from impasto.export.training.perceptual import PerceptualLoss
from impasto.runtime.core.registry import MANIFEST, TRANSFORMER, names, read_manifest, shipped_models_dir
from impasto.runtime.gatys.loss_model import Evaluation, to_nchw
from impasto.runtime.gatys.optimize import run_lbfgs
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic
from impasto.runtime.media.resize import resize_long_side
from impasto.runtime.nets.transformer import TransformerModel

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CHECKPOINTS = (50, 100, 300)
SHARED_CONTENT = Path(__file__).resolve().parents[1].parent / "shared" / "images" / "content"


class Objective:
    """The training objective of one net, for one photo: image (NCHW numpy) → Evaluation with gradient."""

    def __init__(self, loss: PerceptualLoss, photo: np.ndarray, training: dict) -> None:
        self.loss = loss
        self.photo = torch.from_numpy(to_nchw(photo))
        self.weights = (training["content_weight"], training["style_weight"], training["tv_weight"])

    def __call__(self, image: np.ndarray) -> Evaluation:
        x = torch.from_numpy(image).requires_grad_(True)
        content, style, tv = self.loss(x, self.photo)
        total = self.weights[0] * content + self.weights[1] * style + self.weights[2] * tv
        total.backward()
        parts = (float(value.detach()) for value in (total, content, style, tv))
        return Evaluation(*parts, x.grad.numpy())


def _parts(evaluation: Evaluation) -> dict[str, float]:
    return {"total": evaluation.loss, "content": evaluation.content, "style": evaluation.style}


def style_file(net: TransformerModel) -> str:
    """The painting a net (or one style of a net of several styles) was trained on: a file of models/images."""
    files = net.metadata["impasto.style"].split(", ")
    if not net.styles:
        return files[0]
    (index,) = [i for i, weight in enumerate(net.style_weights) if weight == 1.0]
    return files[index]


def shipped_styles() -> list[str]:
    """Every shipped style by the name a user gives: a net's name, or each style of a net of several styles."""
    return [style for name in names(TRANSFORMER) for style in (TransformerModel(name).styles or [name])]


def evaluate_model(name: str, photos: dict[str, np.ndarray], vgg_weights) -> dict:
    net = TransformerModel(name)
    training = json.loads(net.metadata["impasto.training"])
    style = resize_long_side(read_image(shipped_models_dir() / "images" / style_file(net)), training["style_size"])
    loss = PerceptualLoss(vgg_weights, torch.from_numpy(to_nchw(style)))
    figures = {}
    for photo_name, photo in photos.items():
        objective = Objective(loss, photo, training)
        started = time.perf_counter()
        stylised = net.stylize(photo)
        net_seconds = time.perf_counter() - started
        row = {"net": _parts(objective(to_nchw(stylised))), "net_seconds": round(net_seconds, 3)}
        history: list[Evaluation] = []
        started = time.perf_counter()
        run_lbfgs(objective, to_nchw(photo), max(CHECKPOINTS), history.append)
        row["lbfgs_seconds_300"] = round(time.perf_counter() - started, 1)
        for k in CHECKPOINTS:
            row[f"lbfgs_{k}"] = _parts(history[min(k, len(history)) - 1])
        row["beats"] = max([k for k in CHECKPOINTS if row["net"]["total"] < row[f"lbfgs_{k}"]["total"]], default=0)
        figures[photo_name] = row
        print(
            f"{name:<24} {photo_name:<10} net {row['net']['total']:.4g}  "
            + "  ".join(f"L-BFGS@{k} {row[f'lbfgs_{k}']['total']:.4g}" for k in CHECKPOINTS)
            + f"  → beats {row['beats']} iterations",
            flush=True,
        )
    return figures


def _plot(results: dict, path: Path) -> None:
    """One group of bars per (net, photo): the net's total loss and L-BFGS's after 50, 100 and 300 iterations."""
    pairs = [(name, photo) for name, photos in results.items() for photo in photos]
    fig, axis = plt.subplots(figsize=(2.2 * len(pairs) + 2, 4.5))
    x = np.arange(len(pairs))
    labels = ["net"] + [f"lbfgs_{k}" for k in CHECKPOINTS]
    for i, label in enumerate(labels):
        values = [results[name][photo][label]["total"] for name, photo in pairs]
        axis.bar(
            x + (i - 1.5) * 0.2, values, 0.2, label="one pass of the net" if i == 0 else f"L-BFGS, {label[6:]} it."
        )
    axis.set_xticks(x, [f"{name.removesuffix('-light')}\non {photo}" for name, photo in pairs], fontsize=7)
    axis.set_yscale("log")
    axis.set_ylabel("training objective (lower is better)")
    axis.set_title("shipped styles vs L-BFGS optimisation of the same objective (Johnson et al.), on unseen photos")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _update_manifest(results: dict, size: int) -> None:
    folder = shipped_models_dir()
    manifest = read_manifest(folder)
    for entry in manifest["models"]:
        styles = entry.get("styles") or [entry["name"]]
        if all(style in results for style in styles):
            figures = {style: results[style] for style in styles}
            entry["quality"] = (
                {"size": size, "photos": figures[entry["name"]]}
                if not entry.get("styles")
                else {"size": size, "styles": figures}
            )
    write_atomic(folder / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: every shipped style")
    parser.add_argument("--photos", nargs="+", default=["chelsea"], help="held-out photo stems")
    parser.add_argument("--size", type=int, default=256, help="long side of the photos")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/transformer_quality.json"))
    parser.add_argument("--update-manifest", action="store_true")
    args = parser.parse_args()
    vgg_weights = resolve_vgg16_weights(None, allow_download=False)
    photos = {}
    for stem in args.photos:
        (path,) = [p for p in SHARED_CONTENT.iterdir() if p.stem == stem]
        photos[stem] = resize_long_side(read_image(path), args.size)
    # models measured by an earlier run at the same size are kept, so the nets can be measured as they are trained
    earlier = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results = earlier.get("results", {}) if earlier.get("size") == args.size else {}
    for name in args.models or shipped_styles():
        trained_on = json.loads(TransformerModel(name).metadata["impasto.trained_on"])
        assert not any(Path(t).stem in photos for t in trained_on), f"{name} was trained on a test photo"
        results[name] = {**results.get(name, {}), **evaluate_model(name, photos, vgg_weights)}
        args.json.write_text(json.dumps({"size": args.size, "checkpoints": CHECKPOINTS, "results": results}, indent=2))
    _plot(results, args.json.with_suffix(".png"))
    if args.update_manifest:
        _update_manifest(results, args.size)


if __name__ == "__main__":
    main()
