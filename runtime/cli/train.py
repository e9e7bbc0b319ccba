"""``impasto train``: a transformer net for one or several styles, or new styles on a trained net's frozen weights
(the work is done in ``impasto.export``, with torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.export.opsets import DEFAULT_OPSET, SUPPORTED_OPSETS
from impasto.export.training.settings import ARCHITECTURE_NAMES, TrainSettings
from impasto.runtime.cli.args import add_output, default, non_negative, positive, positive_int
from impasto.runtime.cli.export_side import run_export_side


class _Given(argparse.Action):
    """Stores the value and notes that it was given (``<dest>_given``): a default may not contradict a base net."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def add_vgg_options(parser: argparse.ArgumentParser) -> None:
    """Where the VGG16 weights come from (the loss graphs and training both need them)."""
    parser.add_argument("--vgg-weights", type=Path, help="a torchvision-format VGG16 state dict (.pth)")
    parser.add_argument(
        "--vgg-preprocess", choices=("torchvision", "caffe"), default="torchvision",
        help="the input normalisation --vgg-weights was trained with (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--no-download", action="store_true", help="do not try to download torchvision's weights")
    parser.add_argument("--opset", type=int, choices=SUPPORTED_OPSETS, default=DEFAULT_OPSET)


def add_train(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a transformer net for one or several styles, or add styles to one (needs the export extra)",
        description="Train a feed-forward net (Johnson et al. 2016) on random crops of the photos in a folder, "
        "with checkpoints (the same command resumes), previews, and ONNX export (fp32 and fp16) at the end.",
    )
    styles = parser.add_mutually_exclusive_group(required=True)
    styles.add_argument(
        "--style", action="append",
        help="style image; repeat for a net of several styles (conditional instance normalisation, one file)",
    )  # fmt: skip
    styles.add_argument(
        "--add-style", action="append", metavar="STYLE",
        help="style image to add to --base (repeatable): only its normalisation rows are trained, on the base's "
        "frozen weights, so it takes a fraction of a whole net's steps",
    )  # fmt: skip
    parser.add_argument("--base", help="the net of several styles (name or .onnx) that --add-style extends")
    parser.add_argument("--content-dir", required=True, help="folder of content photos to train on")
    parser.add_argument(
        "--name",
        help="model name (default: <style>-<architecture>, <N>-styles-<architecture>, or <base>-plus-<style>)",
    )
    held_out = " ".join(default(TrainSettings, "exclude"))
    parser.add_argument(
        "--exclude", nargs="*", metavar="STEM", help=f"photos (file stems) not to train on (default: {held_out})"
    )

    def setting(flag: str, kind, help_text: str = "") -> None:
        field = flag.removeprefix("--").replace("-", "_")
        value = default(TrainSettings, field)
        parser.add_argument(flag, type=kind, default=value, help=f"{help_text} (default {value:g})".strip())

    parser.add_argument(
        "--architecture", choices=ARCHITECTURE_NAMES, default=default(TrainSettings, "architecture"),
        action=_Given, help="(default %(default)s; with --add-style, the base's)",
    )  # fmt: skip
    setting("--size", positive_int, "training crop side in pixels (square crops)")
    setting("--style-size", positive_int, "style image long side")
    setting("--batch-size", positive_int)
    setting("--iterations", positive_int)
    setting("--learning-rate", positive)
    setting("--content-weight", non_negative)
    setting("--style-weight", non_negative)
    setting("--tv-weight", non_negative, "total variation weight (the paper's 1e-6 left a 2-px grid in the light net)")
    setting("--seed", int)
    setting("--checkpoint-every", positive_int, "steps between checkpoints")
    setting("--preview-every", positive_int, "steps between preview images")
    parser.add_argument("--work", type=Path, help="checkpoint and previews folder (default runs/<name>)")
    add_output(parser, "trained", "folder for the ONNX files and their manifest.json")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when torch sees a GPU")
    add_vgg_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=lambda args: run_export_side("train_command", "impasto train", args))
