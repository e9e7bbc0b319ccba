"""The ``impasto`` command. User mistakes end as one ``impasto: error: …`` line on stderr and exit status 2.

``impasto export`` is declared here but implemented in ``impasto.export`` and imported only when run, so the
runtime-only install never touches torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from impasto.runtime.cli_args import (
    EXIT_USER_ERROR,
    Parser,
    add_session_options,
    non_negative,
    positive,
    positive_int,
    session_config,
)
from impasto.runtime.cli_batch import add_batch
from impasto.runtime.cli_bench import add_bench
from impasto.runtime.cli_realtime import add_stylize, add_video, add_webcam
from impasto.runtime.cli_serve import add_serve
from impasto.runtime.errors import ImpastoError

DEFAULT_CONTENT = "images/chelsea.png"
DEFAULT_STYLE = "images/great-wave.jpg"


def _add_optimize(commands) -> None:
    parser = commands.add_parser(
        "optimize",
        help="Gatys style transfer by optimisation (onnxruntime, no PyTorch)",
        description="Optimise an image so its VGG16 features match the content photo and its Gram matrices the "
        "style painting(s). Without --content/--style it uses the shipped sample photo and painting.",
    )
    parser.add_argument("--content", help="content photo (default: a shipped sample photo)")
    parser.add_argument(
        "--style", action="append", help="style image; repeat for several (default: a shipped painting)"
    )
    parser.add_argument("--style-blend", type=positive, nargs="+", metavar="W", help="one weight per --style")
    parser.add_argument(
        "--output", "-o", default="stylized.png", help="result file (.png, .jpg, …; default %(default)s)"
    )
    parser.add_argument("--size", type=positive_int, default=512, help="long side of the result (default %(default)s)")
    parser.add_argument(
        "--iters", type=positive_int, default=300, help="iterations at the coarsest scale (default %(default)s)"
    )
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    parser.add_argument("--learning-rate", type=positive, default=10.0, help="Adam's step size in pixel units")
    parser.add_argument("--content-weight", type=non_negative, help="α (default: the model's)")
    parser.add_argument("--style-weight", type=non_negative, help="β (default: the model's)")
    parser.add_argument("--tv-weight", type=non_negative, help="γ, total variation (default: the model's)")
    parser.add_argument("--init", choices=("content", "noise", "style"), default="content")
    parser.add_argument("--seed", type=int, default=0, help="seed for --init noise")
    parser.add_argument("--style-scale", type=positive, default=1.0, help="style image size relative to the output")
    parser.add_argument(
        "--preserve-color", nargs="?", const="luminance", choices=("luminance", "histogram"),
        help="keep the content's colours: luminance-only transfer (default) or colour histogram matching",
    )  # fmt: skip
    parser.add_argument("--scales", type=positive_int, help="coarse-to-fine scales (default: automatic)")
    parser.add_argument(
        "--model", default="vgg16-avg", help="shipped loss graph name or .onnx path (default %(default)s)"
    )
    parser.add_argument("--pooling", choices=("avg", "max"), help="shorthand for --model vgg16-avg / vgg16-max")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_session_options(parser, cuda_graph=False)  # each scale has its own size; the nets' commands take graphs
    parser.set_defaults(run=_run_optimize)


def _run_optimize(args: argparse.Namespace) -> int:
    from impasto.runtime.images import check_output_path, read_image, write_image
    from impasto.runtime.loss_model import GatysLossModel
    from impasto.runtime.manifest import shipped_models_dir
    from impasto.runtime.optimize import OptimizeSettings, optimize, preflight

    output = check_output_path(args.output)
    content_path = args.content or shipped_models_dir() / DEFAULT_CONTENT
    style_paths = args.style or [shipped_models_dir() / DEFAULT_STYLE]
    model = GatysLossModel(f"vgg16-{args.pooling}" if args.pooling else args.model, session_config(args))
    settings = OptimizeSettings(
        size=args.size, iters=args.iters, optimizer=args.optimizer, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, init=args.init, seed=args.seed,
        style_scale=args.style_scale, style_blend=args.style_blend, preserve_color=args.preserve_color,
        learning_rate=args.learning_rate, scales=args.scales,
    )  # fmt: skip
    content = read_image(content_path)
    styles = [read_image(path) for path in style_paths]
    preflight(model, content, styles, settings)
    print(
        f"loss graph: {model.path.name} ({model.pooling} pooling; VGG16 weights: {model.weights_source})",
        file=sys.stderr,
    )
    result = optimize(model, content, styles, settings, progress=not args.quiet)
    write_image(output, result.image)
    last = result.history[-1] if result.history else {}
    print(f"wrote {output} ({result.image.shape[1]}×{result.image.shape[0]}, final loss {last.get('loss', 0):.4g})")
    return 0


def _add_export(commands) -> None:
    parser = commands.add_parser("export", help="export ONNX graphs (needs the export extra: torch)")
    kinds = parser.add_subparsers(dest="kind", required=True, parser_class=Parser)
    loss = kinds.add_parser(
        "loss-graph",
        help="VGG16 features + loss/gradient graphs for Gatys optimisation",
        description="Export <name>.features.onnx and <name>.loss.onnx per pooling kind, with shared weight files, "
        "and record them in <out>/manifest.json.",
    )
    loss.add_argument("--out", type=Path, default=Path("models"), help="folder for the files (default %(default)s)")
    loss.add_argument("--name", default="vgg16", help="name prefix; the pooling kind is appended (default %(default)s)")
    loss.add_argument("--pooling", nargs="+", choices=("avg", "max"), default=["avg", "max"])
    loss.add_argument("--content-layers", nargs="+", default=["relu4_2"], metavar="LAYER")
    loss.add_argument(
        "--style-layers", nargs="+", default=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], metavar="LAYER"
    )
    loss.add_argument("--vgg-weights", type=Path, help="a torchvision-format VGG16 state dict (.pth)")
    loss.add_argument(
        "--vgg-preprocess", choices=("torchvision", "caffe"), default="torchvision",
        help="the input normalisation --vgg-weights was trained with (default %(default)s)",
    )  # fmt: skip
    loss.add_argument("--no-download", action="store_true", help="do not try to download torchvision's weights")
    loss.add_argument("--opset", type=int, choices=(17, 18), default=18)
    loss.set_defaults(run=_run_export_loss_graph)
    precision = kinds.add_parser(
        "precision",
        help="fp16 and int8 variants of a transformer net, kept only if within the PSNR goal of fp32",
        description="Write <name>.fp16.onnx (onnxruntime's float16 converter) and/or <name>.int8.onnx (static "
        "quantisation calibrated on the content photos) beside the net, measure each against fp32 on held-out "
        "photos, and record files and PSNR in the manifest of the net's folder. A variant below 30 dB is not written.",
    )
    precision.add_argument("model", help="shipped transformer net name or .onnx file")
    precision.add_argument("--precision", nargs="+", choices=("fp16", "int8"), default=["fp16", "int8"])
    precision.add_argument(
        "--content-dir", help="photos to calibrate on and measure with (default: ../shared/images/content)"
    )
    precision.add_argument(
        "--held-out", nargs="*", metavar="STEM",
        help="photos measured on and never calibrated on (default: the ones no net was trained on)",
    )  # fmt: skip
    precision.add_argument("--side", type=positive_int, default=640, help="long side measured at (default 640)")
    precision.set_defaults(run=_run_export_precision)
    triton = kinds.add_parser(
        "triton",
        help="a Triton Inference Server model repository of the shipped models (needs the serve extra)",
        description="Write DIR/<model>/config.pbtxt and DIR/<model>/1/model.onnx for each shipped net (and its fp16 "
        "variant as <model>-fp16) and loss graph, for Triton's ONNX Runtime backend. Serve with: "
        "tritonserver --model-repository DIR",
    )
    triton.add_argument("folder", type=Path, help="model repository folder (created if missing)")
    triton.add_argument("--models", nargs="+", metavar="NAME", help="only these shipped models (default: all)")
    triton.add_argument("--max-batch-size", type=int, default=8, help="for the nets; 0 turns batching off")
    triton.add_argument("--instances", type=positive_int, default=1, help="instances per model (default 1)")
    triton.add_argument("--kind", choices=("gpu", "cpu"), default="gpu", help="instance kind (default gpu)")
    triton.set_defaults(run=_run_export_triton)


def _export_side(function: str, command: str):
    """A function of ``impasto.export.cli``, imported only when its command runs (the runtime never needs torch)."""
    try:
        module = importlib.import_module("impasto.export.cli")
    except ImportError as error:
        raise ImpastoError(f"`{command}` needs the export extra (pip install 'impasto[export]'): {error}") from error
    return getattr(module, function)


def _run_export_loss_graph(args: argparse.Namespace) -> int:
    return _export_side("export_loss_graph_command", "impasto export")(args)


def _run_export_precision(args: argparse.Namespace) -> int:
    return _export_side("precision_command", "impasto export precision")(args)


def _run_export_triton(args: argparse.Namespace) -> int:
    from impasto.runtime.triton import TritonOptions, export_repository

    if args.max_batch_size < 0:
        raise ImpastoError("--max-batch-size must be 0 or more")
    options = TritonOptions(max_batch_size=args.max_batch_size, instances=args.instances, kind=args.kind)
    for path in export_repository(args.folder, args.models, options):
        print(f"wrote {path}/")
    return 0


def _add_train(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a transformer net for one style (needs the export extra: torch)",
        description="Train a feed-forward net (Johnson et al. 2016) on random crops of the photos in a folder, "
        "with checkpoints (the same command resumes), previews, and ONNX export (fp32 and fp16) at the end.",
    )
    parser.add_argument("--style", required=True, help="style image")
    parser.add_argument("--name", help="model name (default: <style>-<architecture>)")
    parser.add_argument(
        "--content-dir", help="folder of content photos (default: ../shared/images/content beside the repository)"
    )
    parser.add_argument(
        "--exclude", nargs="*", metavar="STEM", help="photos (file stems) not to train on (default: the held-out four)"
    )
    parser.add_argument("--architecture", choices=("light", "full"), default="light")
    parser.add_argument("--size", type=positive_int, default=256, help="training crop side (default %(default)s)")
    parser.add_argument("--style-size", type=positive_int, default=512, help="style image long side (default 512)")
    parser.add_argument("--batch-size", type=positive_int, default=4)
    parser.add_argument("--iterations", type=positive_int, default=2000)
    parser.add_argument("--learning-rate", type=positive, default=1e-3)
    parser.add_argument("--content-weight", type=non_negative, default=1.0)
    parser.add_argument("--style-weight", type=non_negative, default=10.0)
    parser.add_argument(
        "--tv-weight", type=non_negative, default=1e-4,
        help="total variation weight (default %(default)s; the paper's 1e-6 left a 2-px grid in the light net)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=positive_int, default=100, help="steps between checkpoints")
    parser.add_argument("--preview-every", type=positive_int, default=200, help="steps between preview images")
    parser.add_argument("--work", type=Path, help="checkpoint and previews folder (default runs/<name>)")
    parser.add_argument("--out", type=Path, default=Path("trained"), help="ONNX and manifest folder (default trained/)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when torch sees a GPU")
    parser.add_argument("--vgg-weights", type=Path, help="a torchvision-format VGG16 state dict (.pth)")
    parser.add_argument("--vgg-preprocess", choices=("torchvision", "caffe"), default="torchvision")
    parser.add_argument("--no-download", action="store_true", help="do not try to download torchvision's weights")
    parser.add_argument("--opset", type=int, choices=(17, 18), default=18)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    return _export_side("train_command", "impasto train")(args)


def _add_models(commands) -> None:
    parser = commands.add_parser("models", help="list the shipped models")
    parser.add_argument("--verify", action="store_true", help="check every file's SHA-256 against the manifest")
    parser.set_defaults(run=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from impasto.runtime.manifest import read_manifest, shipped_models_dir, verify_checksums

    folder = shipped_models_dir()
    bad = 0
    for entry in read_manifest(folder)["models"]:
        status = ""
        if args.verify:
            mismatched = verify_checksums(entry, folder)
            bad += len(mismatched)
            status = "  checksums OK" if not mismatched else f"  CHECKSUM MISMATCH: {', '.join(mismatched)}"
        variants = [key for key in entry["files"] if key in ("fp32", "fp16", "int8")]
        shipped = f" [{' '.join(variants)}]" if variants else ""
        print(f"{entry['name']:<24} {entry['kind']:<12} {entry.get('summary', '')}{shipped}{status}")
    if bad:
        raise ImpastoError(f"{bad} shipped file(s) do not match the manifest's checksums")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="impasto", description="Neural style transfer on onnxruntime.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_optimize(commands)
    add_stylize(commands)
    add_video(commands)
    add_webcam(commands)
    add_bench(commands)
    add_serve(commands)
    add_batch(commands)
    _add_train(commands)
    _add_export(commands)
    _add_models(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ImpastoError as error:
        print(f"impasto: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("impasto: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("impasto: error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
