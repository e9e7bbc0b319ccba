"""Which ONNX opsets the exporters write: 17 and 18, because onnxruntime's CUDA provider lacks Pad/Resize kernels
from opset 19 and ConvTranspose/MaxPool kernels from 22. Torch-free, so the command line can offer the choices."""

SUPPORTED_OPSETS = (17, 18)
DEFAULT_OPSET = 18


def check_opset(opset: int) -> int:
    """``opset`` unchanged, or ValueError when onnxruntime's CUDA provider could not run what it exports."""
    if opset not in SUPPORTED_OPSETS:
        raise ValueError("opset must be 17 or 18 (onnxruntime's CUDA provider lacks kernels in newer ones)")
    return opset
