"""``impasto export triton DIR``: a Triton Inference Server model repository of the shipped models.

Each model becomes ``DIR/<name>/config.pbtxt`` + ``DIR/<name>/1/model.onnx`` (ONNX Runtime backend); fp16 variants
become ``<name>-fp16``. The configuration is built as Triton's own ``ModelConfig`` protobuf message (from
``tritonclient``'s generated schema) and written in its text format, so it is valid against the schema Triton reads.
Inputs and outputs come from the ONNX graph itself: a net whose every input and output starts with a free batch axis
gets ``max_batch_size`` and dynamic batching (Triton only batches requests of the same height and width); the loss
graphs (batch 1, many inputs) get ``max_batch_size: 0`` and their external weight files beside ``model.onnx``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.files import make_folder
from impasto.runtime.core.registry import TRANSFORMER, entries, onnx_metadata

ONNX_TO_TRITON = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
}


def _schema():
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError) as error:
        message = f"`impasto export triton` needs tritonclient[grpc] (pip install 'impasto[triton]'): {error}"
        raise ImpastoError(message) from error
    return model_config_pb2, text_format


@dataclass(frozen=True)
class TritonOptions:
    max_batch_size: int = 8
    instances: int = 1
    kind: str = "gpu"  # gpu | cpu
    queue_delay_us: int = 2000


def _dims(value: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]


def _batched(graph: onnx.GraphProto) -> bool:
    """Whether every input and output has a free first (batch) axis."""
    values = [*graph.input, *graph.output]
    return all(_dims(v) and _dims(v)[0] == -1 for v in values)


def model_config(name: str, model: onnx.ModelProto, options: TritonOptions, metadata: dict[str, str]):
    """The ``ModelConfig`` message for one ONNX model."""
    pb, _ = _schema()
    graph = model.graph
    batched = _batched(graph) and options.max_batch_size > 0
    config = pb.ModelConfig(name=name, backend="onnxruntime", max_batch_size=options.max_batch_size if batched else 0)
    initializers = {init.name for init in graph.initializer}
    for value, target in [(v, config.input) for v in graph.input if v.name not in initializers] + [
        (v, config.output) for v in graph.output
    ]:
        element = value.type.tensor_type.elem_type
        if element not in ONNX_TO_TRITON:
            raise ImpastoError(f"{name}: {value.name} has ONNX type {element}, which has no Triton type here")
        entry = target.add(name=value.name, data_type=getattr(pb, ONNX_TO_TRITON[element]))
        dims = _dims(value)
        entry.dims.extend((dims[1:] if batched else dims) or [1])
        if not dims:
            entry.reshape.SetInParent()  # a scalar: one element on the wire, shape [] for the model
    kind = pb.ModelInstanceGroup.KIND_GPU if options.kind == "gpu" else pb.ModelInstanceGroup.KIND_CPU
    config.instance_group.add(count=options.instances, kind=kind)
    if batched:
        config.dynamic_batching.max_queue_delay_microseconds = options.queue_delay_us
    for key, value in metadata.items():
        if key.startswith("impasto.") and len(value) < 4096:
            config.parameters[key].string_value = value
    return config


def write_model(folder: Path, name: str, source: Path, options: TritonOptions) -> Path:
    """``folder/name/config.pbtxt`` and ``folder/name/1/model.onnx`` (+ its external weight files)."""
    _, text_format = _schema()
    model = onnx.load(str(source), load_external_data=False)
    metadata = onnx_metadata(source)
    config = model_config(name, model, options, metadata)
    staging = folder / f".{name}.tmp"  # built aside and renamed, so Triton never sees half a model
    shutil.rmtree(staging, ignore_errors=True)
    version = staging / "1"
    version.mkdir(parents=True)
    shutil.copyfile(source, version / "model.onnx")
    for location in {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}:
        (version / location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.parent / location, version / location)
    (staging / "config.pbtxt").write_text(text_format.MessageToString(config))
    shutil.rmtree(folder / name, ignore_errors=True)
    staging.rename(folder / name)
    return folder / name


def export_repository(folder: Path, names: list[str] | None, options: TritonOptions) -> list[Path]:
    """Every shipped transformer net (fp32 and fp16) and loss graph, or those named."""
    shipped = entries()
    known = {entry.name for entry in shipped}
    for name in names or []:
        if name not in known:
            raise ImpastoError(f"no shipped model named {name!r} (shipped: {', '.join(sorted(known))})")
    make_folder(folder)
    written = []
    for entry in shipped:
        if names and entry.name not in names:
            continue
        if entry.kind == TRANSFORMER:
            written.append(write_model(folder, entry.name, entry.file("fp32"), options))
            if "fp16" in entry.files:
                written.append(write_model(folder, f"{entry.name}-fp16", entry.file("fp16"), options))
        elif "loss" in entry.files:  # the loss graph and the features graph that makes its targets
            written.append(write_model(folder, entry.name, entry.file("loss"), options))
            written.append(write_model(folder, f"{entry.name}-features", entry.file("features"), options))
    return written
