"""A shipped net of several styles read back from its ONNX file, so a style can be added to it later by training
only that style's normalisation rows (Dumoulin, Shlens & Kudlur 2017, section 4: new styles on frozen shared
weights).

The exporter keeps every parameter as an initializer named ``net.<state-dict key>``; a file where one is missing
(an older or foreign export) is refused rather than half-restored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from impasto.export.training.transformer import ConditionalInstanceNorm, TransformerNet, build
from impasto.runtime.core.errors import ImpastoError

PREFIX = "net."  # ClampedNet, what is exported, holds the TransformerNet as .net


def net_weights(model: onnx.ModelProto) -> dict[str, torch.Tensor]:
    """An exported net's parameters by state-dict key (its initializers named ``net.<key>``), as float32 tensors."""
    return {
        init.name.removeprefix(PREFIX): torch.from_numpy(numpy_helper.to_array(init).copy()).float()
        for init in model.graph.initializer
        if init.name.startswith(PREFIX)
    }


@dataclass(frozen=True)
class BaseNet:
    """What ``--base`` contributes: its file, name, architecture name, style names (style-weights order), weights."""

    path: Path
    name: str
    architecture: str
    styles: list[str]
    state: dict[str, torch.Tensor]
    paintings: list[str]  # the style images' file names and checksums, in style order (the file's metadata)
    painting_sha256: list[str]


def read_base(path: Path) -> BaseNet:
    """The float32 parameters and style names of a net of several styles. Raises ImpastoError (one line) for a
    one-style net or a file whose parameters cannot all be found."""
    try:
        model = onnx.load(str(path))
        meta = {p.key.removeprefix("impasto."): p.value for p in model.metadata_props}
        architecture = json.loads(meta["architecture"])["name"] if meta.get("kind") == "transformer" else None
        styles = json.loads(meta.get("styles", "[]"))
    except Exception as error:  # noqa: BLE001 — protobuf, JSON and key errors alike: the file is not a net we made
        raise ImpastoError(f"{path}: not a readable Impasto transformer net ({error})") from None
    if architecture is None:
        raise ImpastoError(f"{path}: not an Impasto transformer net")
    if not styles:
        raise ImpastoError(
            f"{path} holds one style; --add-style needs a net of several styles (trained with repeated --style)"
        )
    try:
        expected = build(architecture, styles=len(styles)).state_dict()
    except ValueError as error:
        raise ImpastoError(f"{path}: {error}") from None
    found = net_weights(model)
    missing = [key for key in expected if key not in found]
    if missing:
        raise ImpastoError(f"{path}: its weights cannot be read back ({len(missing)} missing, e.g. {missing[0]})")
    state = {key: found[key] for key in expected}
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ImpastoError(f"{path}: {key} has shape {tuple(value.shape)}, not {tuple(expected[key].shape)}")
    paintings = meta.get("style", "").split(", ")
    checksums = meta["style_sha256"].split(", ") if "style_sha256" in meta else [""] * len(styles)
    if len(paintings) != len(styles) or len(checksums) != len(styles):
        raise ImpastoError(f"{path}: its metadata names {len(paintings)} paintings for {len(styles)} styles")
    return BaseNet(path, meta.get("name", path.stem), architecture, styles, state, paintings, checksums)


def extend(base: BaseNet, added: int) -> TransformerNet:
    """A net of ``len(base.styles) + added`` styles: the base's weights and style rows, and new rows started at the
    mean of the base's (a neutral style to move from), which are the only ones ``freeze_all_but`` leaves to train."""
    net = build(base.architecture, styles=len(base.styles) + added)
    state = dict(base.state)
    for name, module in net.named_modules():
        if isinstance(module, ConditionalInstanceNorm):
            for part in ("weight", "bias"):
                rows = state[f"{name}.{part}"]
                state[f"{name}.{part}"] = torch.cat([rows, rows.mean(0, keepdim=True).expand(added, -1)])
    net.load_state_dict(state)
    return net


def freeze_all_but(net: TransformerNet, rows: list[int]) -> list[torch.nn.Parameter]:
    """Freeze every parameter except the conditional normalisations' scale and bias, whose gradients are masked to
    ``rows``; returns the parameters left to the optimiser (Adam moves nothing whose gradient stays zero)."""
    mask = torch.zeros(net.architecture.styles, 1)
    mask[rows] = 1.0
    trainable = []
    for module in net.modules():
        if isinstance(module, ConditionalInstanceNorm):
            for parameter in (module.weight, module.bias):
                parameter.register_hook(lambda grad: grad * mask.to(grad.device))
                trainable.append(parameter)
    for parameter in net.parameters():
        parameter.requires_grad_(any(parameter is t for t in trainable))
    return trainable
