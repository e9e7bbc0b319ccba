"""``impasto export loss-graph | precision | triton``: ONNX graphs, precision variants, a Triton repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.runtime.cli.args import Parser, add_output, default, non_negative_int, positive, positive_int
from impasto.runtime.cli.export_side import run_export_side
from impasto.runtime.cli.train import add_vgg_options
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import PSNR_GOAL_DB
from impasto.runtime.deploy.triton import TritonOptions

POOLINGS = ("avg", "max")
CONTENT_LAYERS = ["relu4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def add_export(commands) -> None:
    parser = commands.add_parser("export", help="export ONNX graphs (loss-graph and precision need torch)")
    kinds = parser.add_subparsers(dest="kind", required=True, parser_class=Parser)
    loss = kinds.add_parser(
        "loss-graph",
        help="VGG16 features + loss/gradient graphs for Gatys optimisation",
        description="Export <name>.features.onnx and <name>.loss.onnx per pooling kind, with shared weight files, "
        "and record them in <output>/manifest.json.",
    )
    add_output(loss, "models", "folder for the files")
    loss.add_argument("--name", default="vgg16", help="name prefix; the pooling kind is appended (default %(default)s)")
    loss.add_argument("--pooling", nargs="+", choices=POOLINGS, default=list(POOLINGS))
    loss.add_argument("--content-layers", nargs="+", default=CONTENT_LAYERS, metavar="LAYER")
    loss.add_argument("--style-layers", nargs="+", default=STYLE_LAYERS, metavar="LAYER")
    add_vgg_options(loss)
    loss.set_defaults(run=lambda args: run_export_side("export_loss_graph_command", "impasto export", args))

    precision = kinds.add_parser(
        "precision",
        help="fp16 and int8 variants of a transformer net, kept only if within the PSNR goal of fp32",
        description="Write <name>.fp16.onnx (onnxruntime's float16 converter) and/or <name>.int8.onnx (static "
        "quantisation calibrated on the content photos) beside the net, measure each against fp32 on held-out "
        "photos, and record files and PSNR in the manifest of the net's folder. A variant below --min-psnr is not "
        "written.",
    )
    precision.add_argument("model", help="transformer net name or .onnx file")
    precision.add_argument("--precision", nargs="+", choices=("fp16", "int8"), default=["fp16", "int8"])
    precision.add_argument("--content-dir", required=True, help="photos to calibrate on and measure with")
    precision.add_argument(
        "--held-out", nargs="*", metavar="STEM",
        help="photos measured on and never calibrated on (default: the ones no net was trained on)",
    )  # fmt: skip
    precision.add_argument("--side", type=positive_int, default=640, help="long side measured at (default 640)")
    precision.add_argument(
        "--min-psnr", type=positive, default=PSNR_GOAL_DB, metavar="DB",
        help="worst PSNR against fp32 (every held-out photo and style) a variant must keep (default %(default)g)",
    )  # fmt: skip
    precision.set_defaults(run=lambda args: run_export_side("precision_command", "impasto export precision", args))

    triton = kinds.add_parser(
        "triton",
        help="a Triton Inference Server model repository of the shipped models (needs the triton extra)",
        description="Write <output>/<model>/config.pbtxt and <output>/<model>/1/model.onnx for each shipped net (and "
        "its fp16 variant as <model>-fp16) and loss graph, for Triton's ONNX Runtime backend. Serve with: "
        "tritonserver --model-repository DIR",
    )
    triton.add_argument("-o", "--output", type=Path, required=True, help="model repository folder (created if missing)")
    triton.add_argument("--models", nargs="+", metavar="NAME", help="only these shipped models (default: all)")
    batch, instances = default(TritonOptions, "max_batch_size"), default(TritonOptions, "instances")
    triton.add_argument(
        "--max-batch-size", type=non_negative_int, default=batch, help=f"for the nets; 0: no batching ({batch})"
    )
    triton.add_argument("--instances", type=positive_int, default=instances, help=f"per model ({instances})")
    triton.add_argument("--kind", choices=("gpu", "cpu"), default=default(TritonOptions, "kind"), help="instance kind")
    triton.set_defaults(run=run_export_triton)


def run_export_triton(args: argparse.Namespace) -> int:
    from impasto.runtime.deploy.triton import export_repository

    if args.output == Path("-"):
        raise ImpastoError("-o -: a model repository is a folder")
    options = TritonOptions(max_batch_size=args.max_batch_size, instances=args.instances, kind=args.kind)
    for path in export_repository(args.output, args.models, options):
        print(f"wrote {path}/")
    return 0
