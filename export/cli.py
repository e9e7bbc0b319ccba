"""``impasto export loss-graph``: resolve the VGG16 weights, export each pooling kind, record it in the manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from impasto.export.lossgraph.onnx_export import LossGraphSpec, export_loss_graphs
from impasto.export.lossgraph.weights import WeightsUnavailable, resolve_vgg16_weights
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder
from impasto.runtime.core.registry import MANIFEST, onnx_metadata, read_manifest, sha256_file
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic
from impasto.runtime.media.paths import STDIO, check_writable_folder

if TYPE_CHECKING:
    from impasto.export.training.base_net import BaseNet


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
    if str(args.output) == STDIO:
        raise ImpastoError("-o -: loss graphs are files in a folder, not stdout; name a folder")
    check_writable_folder(make_folder(Path(args.output)))  # before the weights are looked for and the graphs traced
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
        "summary": f"transformer net ({architecture}), style {meta['impasto.style']}"
        if "impasto.styles" not in meta
        else f"transformer net ({architecture}) of {len(json.loads(meta['impasto.styles']))} styles, one pass each",
        "files": {precision: path.name for precision, path in files.items()},
        "metadata": {key.removeprefix("impasto."): value for key, value in meta.items()},
        "sha256": {path.name: sha256_file(path) for path in files.values()},
    }
    if "impasto.styles" in meta:  # a net of several styles: each is usable as a model name
        entry["styles"] = json.loads(meta["impasto.styles"])
    if quality:
        entry["quality"] = quality
    return entry


def _base_for(args: argparse.Namespace, paintings: list[Path]) -> BaseNet | None:
    """The fp32 file and identity of ``--base`` for ``--add-style``, checked before any weights are looked for."""
    if not args.add_style:
        if args.base:
            raise ImpastoError("--base is for --add-style (a whole net is trained from scratch with --style)")
        return None
    if not args.base:
        raise ImpastoError("--add-style needs --base NET, the net of several styles to add it to")
    from impasto.export.training.base_net import read_base
    from impasto.runtime.core.registry import TRANSFORMER, all_entries, resolve

    resolved = resolve(args.base, TRANSFORMER)
    if resolved.entry is not None and resolved.key != "fp32":  # a variant: its net's fp32 file is what is trained on
        resolved = resolve(resolved.entry.name, TRANSFORMER, "fp32")
    base = read_base(resolved.path)
    if getattr(args, "architecture_given", False) and args.architecture != base.architecture:
        raise ImpastoError(
            f"--architecture {args.architecture}: {args.base} is {base.architecture}, and --add-style keeps the "
            "base's architecture; leave --architecture out"
        )
    output = Path(args.output).resolve()  # (a rerun of this very command finds its own earlier result there)
    taken = {n for e in all_entries() if e.folder.resolve() != output for n in [e.name, *e.styles]}
    for painting in paintings:  # a style is found by its name: a name that is taken would find the other model
        if painting.stem in base.styles:
            raise ImpastoError(f"{args.base} already has a style named {painting.stem}; rename the image to add it")
        if painting.stem in taken:
            raise ImpastoError(f"{painting.stem} already names a model or style; rename the image to add it")
    return base


def train_command(args: argparse.Namespace) -> int:
    import torch

    from impasto.export.training.content_crops import list_images
    from impasto.export.training.outputs import prepare_outputs, remove_created
    from impasto.export.training.trainer import HELD_OUT, Trainer, TrainSettings

    paintings = [Path(p) for p in (args.add_style or args.style)]
    for style in paintings:
        if not style.is_file():
            raise ImpastoError(f"{style}: no such style image")
    if len(set(paintings)) != len(paintings):
        raise ImpastoError("the same style image is given twice")
    stems = [p.stem for p in paintings]
    twice = next((stem for stem in stems if stems.count(stem) > 1), None)
    if twice and (len(paintings) > 1):  # the style names come from the file names: two would be one name
        raise ImpastoError(f"two style images are named {twice}; rename one (its file name is its style's name)")
    style = paintings[0]
    base = _base_for(args, paintings)
    several = len(paintings) > 1 or base is not None
    architecture = base.architecture if base else args.architecture
    if base is not None:
        default_name = f"{base.name}-plus-{'-'.join(p.stem for p in paintings)}"
    elif several:
        default_name = f"{len(paintings)}-styles-{architecture}"
    else:
        default_name = f"{style.stem}-{architecture}"
    name = args.name or default_name
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ImpastoError("--device cuda: torch sees no CUDA GPU here")
    settings = TrainSettings(
        name=name, style=str(style), content_dir=str(args.content_dir),
        work_dir=str(args.work or Path("runs") / name), out_dir=str(args.output),
        exclude=list(HELD_OUT if args.exclude is None else args.exclude),
        architecture=architecture,
        size=args.size, style_size=args.style_size, batch_size=args.batch_size, iterations=args.iterations,
        learning_rate=args.learning_rate, content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, seed=args.seed, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, device=device, opset=args.opset,
        styles=[str(p) for p in paintings] if several else [], base=str(base.path) if base else "",
        base_sha256=sha256_file(base.path) if base else "",
    )  # fmt: skip
    for painting in paintings:
        read_image(painting)  # the user's files are checked before the weights are looked for
    list_images(Path(settings.content_dir), settings.exclude)
    created = prepare_outputs(settings)  # every folder and file the run writes, before VGG16 or a photo is loaded
    try:
        try:
            weights = resolve_vgg16_weights(args.vgg_weights, args.vgg_preprocess, allow_download=not args.no_download)
        except WeightsUnavailable as error:
            raise ImpastoError(str(error)) from error
        trainer = Trainer(settings, weights)
    except BaseException:  # refused before the first step: leave no empty folders behind
        remove_created(created)
        raise
    result = trainer.run(quiet=args.quiet)
    fp32, fp16 = result.onnx_files
    update_manifest(Path(args.output), [transformer_manifest_entry(fp32, {"fp16": fp16})])
    last = result.history[-1]
    print(f"wrote {fp32} and {fp16} (step {last['step']}: content {last['content']:.4g}, style {last['style']:.4g})")
    return 0


def precision_command(args: argparse.Namespace) -> int:
    """Make the fp16/int8 variants of a transformer net, keep those within the PSNR goal, record them."""
    from impasto.export.precision import make_variant
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
        path, quality = make_variant(fp32, precision, calibration, photos, args.side, goal_db=args.min_psnr)
        figures = ", ".join(f"{photo} {value:.1f}" for photo, value in quality.psnr_db.items())
        if path is None:
            rejected.append(precision)
            print(f"{name}: {precision} rejected: PSNR {figures} dB; goal ≥ {args.min_psnr:g} dB", file=sys.stderr)
            continue
        entry["files"][precision] = path.name
        entry["sha256"][path.name] = sha256_file(path)
        entry.setdefault("precision_quality", {})[precision] = quality.as_dict()
        print(f"wrote {path} (PSNR against fp32: {figures} dB)")
    update_manifest(fp32.parent, [entry])
    if rejected:
        print(f"impasto: not written (below {args.min_psnr:g} dB): {', '.join(rejected)}", file=sys.stderr)
        return 1
    return 0
