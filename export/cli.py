"""``impasto export loss-graph``: resolve the VGG16 weights, export each pooling kind, record it in the manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import onnx

from impasto.export.lossgraph.onnx_export import LossGraphSpec, export_loss_graphs
from impasto.export.lossgraph.weights import WeightsUnavailable, resolve_vgg16_weights
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import MANIFEST, onnx_metadata, read_manifest, sha256_file
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic


def _referenced_files(path: Path) -> list[str]:
    """The model file and the external weight files it points to, relative to its folder."""
    model = onnx.load(str(path), load_external_data=False)
    locations = {
        entry.value for tensor in model.graph.initializer for entry in tensor.external_data if entry.key == "location"
    }
    return [path.name, *sorted(locations)]


def manifest_entry(features: Path, loss: Path) -> dict:
    """A manifest record built from the loss graph's own metadata (the single source of these facts)."""
    meta = onnx_metadata(loss)
    files = sorted(set(_referenced_files(features)) | set(_referenced_files(loss)))
    return {
        "name": meta["impasto.name"],
        "kind": meta["impasto.kind"],
        "summary": f"Gatys loss+gradient, VGG16 {meta['impasto.pooling']} pooling, "
        f"content {','.join(json.loads(meta['impasto.content_layers']))}, "
        f"style {','.join(json.loads(meta['impasto.style_layers']))}",
        "files": {"features": features.name, "loss": loss.name},
        "metadata": {key.removeprefix("impasto."): value for key, value in meta.items()},
        "sha256": {name: sha256_file(loss.parent / name) for name in files},
    }


def update_manifest(folder: Path, entries: list[dict]) -> None:
    manifest = read_manifest(folder)
    names = {entry["name"] for entry in entries}
    manifest["models"] = [m for m in manifest["models"] if m["name"] not in names] + entries
    manifest["models"].sort(key=lambda m: m["name"])
    write_atomic(folder / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())


def export_loss_graph_command(args: argparse.Namespace) -> int:
    try:
        weights = resolve_vgg16_weights(args.vgg_weights, args.vgg_preprocess, allow_download=not args.no_download)
    except WeightsUnavailable as error:
        raise ImpastoError(str(error)) from error
    entries = []
    for pooling in args.pooling:
        try:
            spec = LossGraphSpec(
                content_layers=args.content_layers, style_layers=args.style_layers, pooling=pooling, opset=args.opset
            )
        except ValueError as error:
            raise ImpastoError(str(error)) from error
        name = f"{args.name}-{pooling}"
        print(f"exporting {name} …", file=sys.stderr)
        pair = export_loss_graphs(weights, spec, args.output, name)
        entries.append(manifest_entry(pair.features, pair.loss))
        print(f"wrote {pair.features} and {pair.loss}")
    update_manifest(Path(args.output), entries)
    return 0


def transformer_manifest_entry(
    fp32: Path, variants: dict[str, Path] | None = None, quality: dict | None = None
) -> dict:
    """A manifest record for a transformer net, built from its own metadata; ``variants``: precision → file."""
    meta = onnx_metadata(fp32)
    architecture = json.loads(meta["impasto.architecture"])["name"]
    files = {"fp32": fp32, **(variants or {})}
    entry = {
        "name": meta["impasto.name"],
        "kind": meta["impasto.kind"],
        "summary": f"transformer net ({architecture}), style {meta['impasto.style']}",
        "files": {precision: path.name for precision, path in files.items()},
        "metadata": {key.removeprefix("impasto."): value for key, value in meta.items()},
        "sha256": {path.name: sha256_file(path) for path in files.values()},
    }
    if "impasto.styles" in meta:  # a net of several styles: each is usable as a model name
        entry["styles"] = json.loads(meta["impasto.styles"])
    if quality:
        entry["quality"] = quality
    return entry


def train_command(args: argparse.Namespace) -> int:
    import torch

    from impasto.export.training.content_crops import list_images
    from impasto.export.training.trainer import HELD_OUT, Trainer, TrainSettings

    paintings = [Path(p) for p in args.style]
    for style in paintings:
        if not style.is_file():
            raise ImpastoError(f"{style}: no such style image")
    if len(set(paintings)) != len(paintings):
        raise ImpastoError("the same --style is given twice")
    style = paintings[0]
    several = len(paintings) > 1
    default_name = f"{len(paintings)}-styles-{args.architecture}" if several else f"{style.stem}-{args.architecture}"
    name = args.name or default_name
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ImpastoError("--device cuda: torch sees no CUDA GPU here")
    settings = TrainSettings(
        name=name, style=str(style), content_dir=str(args.content_dir),
        work_dir=str(args.work or Path("runs") / name), out_dir=str(args.output),
        exclude=list(HELD_OUT if args.exclude is None else args.exclude), architecture=args.architecture,
        size=args.size, style_size=args.style_size, batch_size=args.batch_size, iterations=args.iterations,
        learning_rate=args.learning_rate, content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, seed=args.seed, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, device=device, opset=args.opset,
        styles=[str(p) for p in paintings] if several else [],
    )  # fmt: skip
    for painting in paintings:
        read_image(painting)  # the user's files are checked before the weights are looked for
    list_images(Path(settings.content_dir), settings.exclude)
    try:
        weights = resolve_vgg16_weights(args.vgg_weights, args.vgg_preprocess, allow_download=not args.no_download)
    except WeightsUnavailable as error:
        raise ImpastoError(str(error)) from error
    result = Trainer(settings, weights).run(quiet=args.quiet)
    fp32, fp16 = result.onnx_files
    update_manifest(Path(args.output), [transformer_manifest_entry(fp32, {"fp16": fp16})])
    last = result.history[-1]
    print(f"wrote {fp32} and {fp16} (step {last['step']}: content {last['content']:.4g}, style {last['style']:.4g})")
    return 0


def precision_command(args: argparse.Namespace) -> int:
    """Make the fp16/int8 variants of a transformer net, keep those within the PSNR goal, record them."""
    from impasto.export.precision import PSNR_GOAL_DB, make_variant
    from impasto.export.training.content_crops import list_images
    from impasto.export.training.trainer import HELD_OUT
    from impasto.runtime.core.registry import TRANSFORMER, resolve
    from impasto.runtime.nets.transformer import TransformerModel

    fp32 = resolve(args.model, TRANSFORMER, "fp32").path
    name = TransformerModel(fp32).name  # refuses anything that is not a transformer net, in one line
    content_dir = Path(args.content_dir)
    held_out = list(HELD_OUT if args.held_out is None else args.held_out)
    calibration = list_images(content_dir, held_out)
    photos = [path for path in list_images(content_dir, []) if path.stem in held_out]
    if not photos:
        raise ImpastoError(f"{content_dir}: none of the held-out photos ({', '.join(held_out)}) to measure on")
    existing = [m for m in read_manifest(fp32.parent)["models"] if m["name"] == name]
    entry = existing[0] if existing else transformer_manifest_entry(fp32)
    rejected = []
    for precision in args.precision:
        how = f"calibrated on {len(calibration)} photos" if precision == "int8" else "float16 converter"
        print(f"{name}: making {precision} ({how}) …", file=sys.stderr)
        path, quality = make_variant(fp32, precision, calibration, photos, args.side)
        figures = ", ".join(f"{photo} {value:.1f}" for photo, value in quality.psnr_db.items())
        if path is None:
            rejected.append(precision)
            print(f"{name}: {precision} rejected: PSNR {figures} dB; goal ≥ {PSNR_GOAL_DB:g} dB", file=sys.stderr)
            continue
        entry["files"][precision] = path.name
        entry["sha256"][path.name] = sha256_file(path)
        entry.setdefault("precision_quality", {})[precision] = quality.as_dict()
        print(f"wrote {path} (PSNR against fp32: {figures} dB)")
    update_manifest(fp32.parent, [entry])
    if rejected:
        print(f"impasto: not written (below {PSNR_GOAL_DB:g} dB): {', '.join(rejected)}", file=sys.stderr)
        return 1
    return 0
