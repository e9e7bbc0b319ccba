"""What ``impasto bench`` times: model files with their precision, kind and a way to make inputs of a given size.

A name from the manifest gives one target per precision variant it ships (a loss graph gives its loss+gradient
graph; a style of a net of several styles, its net's variants); a path gives that file. Inputs: a transformer net
or features graph takes one image (and random style weights); a loss graph takes an image plus the targets its
features graph computes (made once, untimed); any other ONNX file gets random tensors, with the last two axes of a
4-D input set to the image size and any other free axis to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import LOSS, OTHER, TRANSFORMER, onnx_metadata, resolve
from impasto.runtime.core.session_config import SessionConfig

DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64}


@dataclass(frozen=True)
class BenchTarget:
    label: str  # what the table calls it: the manifest name or the file name
    path: Path
    precision: str
    kind: str


def resolve_targets(model: str, precisions: list[str] | None = None) -> list[BenchTarget]:
    """One target per precision variant of a manifest entry, or the file ``model`` names (each of ``precisions``
    through the manifest beside it: a variant that cannot be found is an ImpastoError, never a silent fp32 row)."""
    resolved = resolve(model, kind=None)
    if resolved.entry is None:  # a lone file: timed as it is (a file that cannot load is a FAILED row)
        target = _file_target(resolved.path)
        if precisions and target.precision not in precisions:
            wanted = "/".join(precisions)
            raise ImpastoError(f"{model} is a single {target.precision} file; --precision {wanted} cannot be honoured")
        return [target]
    if resolved.entry.name != model and resolved.style_weights is None:  # a path listed in a manifest: that file
        files = [resolved.path] if not precisions else [resolve(model, None, p).path for p in precisions]  # or those
        return [_file_target(path) for path in dict.fromkeys(files)]
    entry = resolved.entry  # a style of a net of several styles is timed as its net (the style is an input)
    if entry.kind == LOSS:
        return [BenchTarget(model, entry.file("loss"), "fp32", LOSS)] if not precisions or "fp32" in precisions else []
    chosen = [p for p in entry.precisions if not precisions or p in precisions]
    return [BenchTarget(model, entry.file(precision), precision, entry.kind) for precision in chosen]


def _file_target(path: Path) -> BenchTarget:
    try:
        meta = onnx_metadata(path)
    except ImpastoError:  # an unreadable file is reported when the bench opens it
        meta = {}
    label = meta.get("impasto.name", path.name)  # variants of one net share its name, so they line up
    return BenchTarget(label, path, meta.get("impasto.precision", "fp32"), meta.get("impasto.kind", OTHER))


def _random_tensor(shape: list, dtype, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    dims = []
    for axis, dim in enumerate(shape):
        if isinstance(dim, int):
            dims.append(dim)
        elif len(shape) == 4 and axis >= 2:
            dims.append(size[axis - 2])
        else:
            dims.append(1)
    if np.issubdtype(dtype, np.integer):
        return np.zeros(dims, dtype)
    return rng.uniform(0, 255, dims).astype(dtype)


def make_feeds(target: BenchTarget, session: ort.InferenceSession, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Inputs of ``size`` (height, width) for one run of ``session``."""
    rng = np.random.default_rng(0)
    height, width = size
    if target.kind == LOSS:
        from impasto.runtime.gatys.loss_model import GatysLossModel, to_nchw

        model = GatysLossModel(target.path, SessionConfig())
        image = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
        return {"image": to_nchw(image), **model.targets(image), **model.weights().feeds()}
    feeds = {}
    for value in session.get_inputs():
        dtype = DTYPES.get(value.type)
        if dtype is None:
            raise ImpastoError(f"{target.path}: input {value.name} has type {value.type}, which the bench cannot fill")
        feeds[value.name] = _random_tensor(value.shape, dtype, size, rng)
        if value.name == "style_weights" and target.kind == TRANSFORMER:  # an even blend, as a user's would sum to 1
            feeds[value.name] = np.full_like(feeds[value.name], 1.0 / feeds[value.name].shape[-1])
    return feeds


def conv_multiply_adds(target: BenchTarget, feeds: dict[str, np.ndarray]) -> int | None:
    """Multiply-adds of every Conv and ConvTranspose for these inputs, from one CPU run that also returns each
    convolution's input and output (exact shapes, however the graph computes them); None when that run fails."""
    try:
        model = onnx.load(str(target.path))
    except Exception:  # noqa: BLE001
        return None
    convolutions = [node for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose")]
    if not convolutions:
        return None
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    # weights computed in the graph (flipped kernels of a gradient, dequantised int8 ones) are fetched as well
    wanted = {name for node in convolutions for name in (node.input[0], node.output[0])}
    wanted |= {node.input[1] for node in convolutions if node.input[1] not in weights}
    wanted -= set(feeds)
    present = {value.name for value in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in sorted(wanted - present))
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = sorted(wanted)
        values = {**feeds, **dict(zip(names, session.run(names, feeds), strict=True))}
        weights |= {name: values[name].shape for name in values if name not in weights}
    except Exception:  # noqa: BLE001 — the count is an extra; the timing does not depend on it
        return None
    total = 0
    for node in convolutions:
        shape = weights[node.input[1]]
        kernel = int(np.prod(shape[2:]))
        if node.op_type == "Conv":  # weight [Cout, Cin/g, k…]: each output element sums Cin/g × k products
            total += values[node.output[0]].size * shape[1] * kernel
        else:  # weight [Cin, Cout/g, k…]: each input element is scattered into Cout/g × k outputs
            total += values[node.input[0]].size * shape[1] * kernel
    return total
