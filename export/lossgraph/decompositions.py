"""Backward ops rewritten as plain forward ops, so that a traced loss+gradient exports to ordinary ONNX.

torch's exporter has no ONNX form for ``convolution_backward`` or the pooling backwards. While ``make_fx``
traces autograd, these replacements run instead, producing ops every onnxruntime provider has:
Conv, Greater/Mul, Resize, Reshape/ArgMax and Pad. Only what VGG16 uses is covered (3×3 stride-1
convolutions, 2×2 stride-2 pooling); anything else fails loudly at trace time rather than exporting wrong maths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def convolution_backward(
    grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, output_mask
):
    """dL/dinput of a stride-1 convolution: dL/doutput convolved with the weight flipped in space, in↔out swapped.

    The same maths as ConvTranspose, but onnxruntime's CPU provider runs Conv in its blocked (NCHWc) layout and
    ConvTranspose not: measured 1.14× vs 1.05× PyTorch at 256 px. The transpose and flip stay as graph ops on the
    shared weight (folded once when the session loads), so the file stores each weight once.
    """
    if transposed or groups != 1 or list(stride) != [1, 1] or output_mask[1] or output_mask[2]:
        raise NotImplementedError("only the input gradient of stride-1, ungrouped convolutions is exported")
    pad = [dilation[i] * (weight.shape[2 + i] - 1) - padding[i] for i in range(2)]
    grad_input = F.conv2d(grad_output, weight.transpose(0, 1).flip(2, 3), padding=pad, dilation=dilation)
    return grad_input, None, None


def _check_pool(kernel_size, stride, padding) -> None:
    if list(kernel_size) != [2, 2] or list(stride) not in ([2, 2], []) or any(padding):
        raise NotImplementedError("only 2×2, stride-2, unpadded pooling backward is exported")


def _windows_to_image(windows: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, C, h, 2, w, 2] window gradients → [N, C, H, W]; rows/columns that pooling dropped get zero."""
    n, c, h, _, w, _ = windows.shape
    grad = windows.reshape(n, c, 2 * h, 2 * w)
    return F.pad(grad, (0, width - 2 * w, 0, height - 2 * h))


def max_pool2d_backward(grad_output, self, kernel_size, stride, padding, dilation, ceil_mode, indices):
    """Route each window's gradient to its first maximum (row-major), the element torch's kernel picks.

    Uses ArgMax over the four window elements instead of the recorded indices, which would need a scatter.
    """
    _check_pool(kernel_size, stride, padding)
    n, c, height, width = self.shape
    h, w = grad_output.shape[-2:]
    window = self[:, :, : 2 * h, : 2 * w].reshape(n, c, h, 2, w, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w, 4)
    first_max = window.argmax(-1, keepdim=True)
    one_hot = (torch.arange(4, device=self.device) == first_max).to(grad_output.dtype)
    routed = (one_hot * grad_output.unsqueeze(-1)).reshape(n, c, h, w, 2, 2).permute(0, 1, 2, 4, 3, 5)
    return _windows_to_image(routed, height, width)


def avg_pool2d_backward(grad_output, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor):
    """Each of a window's four inputs gets a quarter of the window's gradient."""
    _check_pool(kernel_size, stride, padding)
    if ceil_mode or divisor is not None:
        raise NotImplementedError("only floor-mode average pooling without a divisor override is exported")
    n, c, height, width = self.shape
    h, w = grad_output.shape[-2:]
    # the .default overload stays one op (ONNX Resize, which onnxruntime runs in its blocked layout); F.interpolate
    # would go through the .vec overload, which make_fx decomposes into indexing (GatherND)
    spread = aten.upsample_nearest2d.default(grad_output * 0.25, [2 * h, 2 * w])
    return F.pad(spread, (0, width - 2 * w, 0, height - 2 * h))


def threshold_backward(grad_output, self, threshold):
    """ReLU's gradient as grad · (y > 0): Greater, Cast, Mul run multi-threaded, where ONNX Where did not
    (Where took 9 % of a loss+gradient evaluation)."""
    return grad_output * (self > threshold).to(grad_output.dtype)


def slice_backward(grad_output, input_sizes, dim, start, end, step):
    """The gradient of a unit-step slice is the slice's gradient zero-padded back to the input's size."""
    if step != 1:
        raise NotImplementedError("only unit-step slice backward is exported")
    size = input_sizes[dim]
    start = start + size if start < 0 else min(start, size)
    end = end + size if end < 0 else min(end, size)
    pad = [0, 0] * (len(input_sizes) - 1 - dim) + [start, size - end]
    return F.pad(grad_output, pad)


def backward_decompositions() -> dict:
    return {
        aten.convolution_backward.default: convolution_backward,
        aten.max_pool2d_with_indices_backward.default: max_pool2d_backward,
        aten.avg_pool2d_backward.default: avg_pool2d_backward,
        aten.threshold_backward.default: threshold_backward,
        aten.slice_backward.default: slice_backward,
    }
