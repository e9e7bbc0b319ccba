"""Whole-image instance-normalisation statistics for tiled stylisation, by rewriting the net's ONNX graph.

Instance normalisation makes a transformer net's output depend on the statistics of the whole input: a tile of
sky normalised by its own mean and variance comes out nothing like the same sky in the whole photo (512-px tiles
differed from the untiled result by 40 levels on average). So tiling runs two rewritten copies of the graph:

- *stats*: the net as it is, with every InstanceNormalization's input mean and variance over H×W as extra outputs;
  run once on the whole image (scaled down only if it is very large);
- *apply*: every InstanceNormalization replaced by ``(x − mean) / sqrt(var + ε) · scale + bias`` with mean and
  variance as graph inputs; run on each tile with the whole image's statistics.

The rewrite works on any Impasto transformer net, fp32 or fp16 (whose normalisations stay float32), so shipped
files stay single graphs. onnx is used for the rewrite only; onnxruntime runs both copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

NormStats = list[np.ndarray]  # mean_0, var_0, mean_1, var_1, … each [1, C, 1, 1] float32


def _norm_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    nodes = [node for node in model.graph.node if node.op_type == "InstanceNormalization"]
    if not nodes:
        raise ValueError("the graph has no InstanceNormalization nodes")
    return nodes


def stats_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """The net with mean_k and var_k outputs for the input of every instance normalisation."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    axes = "impasto_hw_axes"
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), axes))
    extra = []
    for k, node in enumerate(_norm_nodes(model)):
        x = node.input[0]
        mean, centred, squared, var = f"norm_mean_{k}", f"_c{k}", f"_s{k}", f"norm_var_{k}"
        extra += [
            helper.make_node("ReduceMean", [x, axes], [mean], keepdims=1),
            helper.make_node("Sub", [x, mean], [centred]),
            helper.make_node("Mul", [centred, centred], [squared]),
            helper.make_node("ReduceMean", [squared, axes], [var], keepdims=1),
        ]
        for name in (mean, var):
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    model.graph.node.extend(extra)
    return model


def apply_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """The net with each instance normalisation using given statistics (inputs norm_mean_k, norm_var_k)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    channel_axes = "impasto_chw_axes"
    model.graph.initializer.append(numpy_helper.from_array(np.array([0, 2, 3], dtype=np.int64), channel_axes))
    rebuilt = []
    k = -1
    for node in model.graph.node:
        if node.op_type != "InstanceNormalization":
            rebuilt.append(node)
            continue
        k += 1
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        x, scale, bias = node.input
        mean, var = f"norm_mean_{k}", f"norm_var_{k}"
        eps = f"impasto_eps_{k}"
        model.graph.initializer.append(numpy_helper.from_array(np.array(epsilon, dtype=np.float32), eps))
        p = f"impasto_norm_{k}_"
        rebuilt += [
            helper.make_node("Sub", [x, mean], [p + "centred"], name=p + "sub"),
            helper.make_node("Add", [var, eps], [p + "var_eps"], name=p + "add_eps"),
            helper.make_node("Sqrt", [p + "var_eps"], [p + "std"], name=p + "sqrt"),
            helper.make_node("Div", [p + "centred", p + "std"], [p + "normed"], name=p + "div"),
            helper.make_node("Unsqueeze", [scale, channel_axes], [p + "scale"], name=p + "scale"),
            helper.make_node("Unsqueeze", [bias, channel_axes], [p + "bias"], name=p + "bias"),
            helper.make_node("Mul", [p + "normed", p + "scale"], [p + "scaled"], name=p + "mul"),
            helper.make_node("Add", [p + "scaled", p + "bias"], [node.output[0]], name=p + "add"),
        ]
        for name in (mean, var):
            model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, 1, 1]))
    del model.graph.node[:]
    model.graph.node.extend(rebuilt)
    return model


class GlobalNormNet:
    """Two sessions made from one transformer net file: statistics of a whole image, and tiles given them."""

    def __init__(self, path: str | Path, options: ort.SessionOptions, providers: list) -> None:
        model = onnx.load(str(path))
        self.count = len(_norm_nodes(model))
        self.stats_session = ort.InferenceSession(stats_graph(model).SerializeToString(), options, providers=providers)
        self.apply_session = ort.InferenceSession(apply_graph(model).SerializeToString(), options, providers=providers)
        self.input_name = model.graph.input[0].name
        self.stat_names = [f"norm_{kind}_{k}" for k in range(self.count) for kind in ("mean", "var")]

    def stats(self, image: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> NormStats:
        """H×W×3 image → every normalisation's input mean and variance. ``extra``: the net's other inputs (the
        style weights of a net of several styles)."""
        batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        return self.stats_session.run(self.stat_names, {self.input_name: batch, **(extra or {})})

    def stylize(self, tile: np.ndarray, stats: NormStats, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """H×W×3 tile → stylised tile, normalised with ``stats`` instead of its own."""
        batch = np.ascontiguousarray(tile.transpose(2, 0, 1)[None], dtype=np.float32)
        feeds = {self.input_name: batch, **dict(zip(self.stat_names, stats, strict=True)), **(extra or {})}
        return self.apply_session.run(None, feeds)[0][0].transpose(1, 2, 0)
