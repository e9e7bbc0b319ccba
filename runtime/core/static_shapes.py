"""Reading and fixing a model's input shapes (TensorRT profiles and CUDA-graph capture need them)."""

from __future__ import annotations

from pathlib import Path


def image_input_names(path: Path) -> list[str]:
    """[B, 3, H, W] inputs of a model, the ones a TensorRT shape profile is about (read without the weights)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 — the session open below gives the one clear error for a bad file
        return []

    def is_image(value) -> bool:
        dims = value.type.tensor_type.shape.dim
        return len(dims) == 4 and dims[1].dim_value == 3

    return [value.name for value in graph.input if is_image(value)]


def static_shape_model(path: Path, shapes: dict[str, tuple[int, ...]]) -> bytes:
    """The model with its inputs fixed to ``shapes``, serialised.

    The nets' height and width are symbolic, so their upsampling sizes are computed at run time by Shape/Slice nodes,
    which onnxruntime places on the CPU, and a CUDA graph can only be captured when every node is on the GPU. With
    fixed input shapes onnxruntime's constant folding removes those nodes, so capture works for that one size.
    """
    import onnx

    model = onnx.load(str(path))  # weights kept in external files are read in too
    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name], strict=True):
                dim.Clear()
                dim.dim_value = size
    return model.SerializeToString()
