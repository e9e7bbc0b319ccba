"""``impasto export loss-graph``: resolve the VGG16 weights, export each pooling kind, record it in the manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import onnx

from impasto.export.onnx_export import LossGraphSpec, export_loss_graphs
from impasto.export.weights import WeightsUnavailable, resolve_vgg16_weights
from impasto.runtime.errors import ImpastoError
from impasto.runtime.images import write_atomic
from impasto.runtime.manifest import MANIFEST, read_manifest, sha256_file


def _referenced_files(path: Path) -> list[str]:
    """The model file and the external weight files it points to, relative to its folder."""
    model = onnx.load(str(path), load_external_data=False)
    locations = {
        entry.value for tensor in model.graph.initializer for entry in tensor.external_data if entry.key == "location"
    }
    return [path.name, *sorted(locations)]


def manifest_entry(features: Path, loss: Path) -> dict:
    """A manifest record built from the loss graph's own metadata (the single source of these facts)."""
    meta = {p.key: p.value for p in onnx.load(str(loss), load_external_data=False).metadata_props}
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
        pair = export_loss_graphs(weights, spec, args.out, name)
        entries.append(manifest_entry(pair.features, pair.loss))
        print(f"wrote {pair.features} and {pair.loss}")
    update_manifest(args.out, entries)
    return 0
