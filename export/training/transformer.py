"""Feed-forward style transfer nets (Johnson, Alahi & Fei-Fei 2016) that take and return RGB images in 0–255.

``full`` is the paper's net as in pytorch/examples ``fast_neural_style``: reflection padding, instance
normalisation, five residual blocks at 128 channels, and nearest upsampling followed by a convolution instead of
transposed convolutions (which leave checkerboard artefacts). ``light`` is sized for real time on a small CPU:
its first convolution has stride 2 and its last one feeds a pixel shuffle (depth-to-space), so no layer runs at
full resolution; the four residual blocks are depthwise-separable at 64 channels and zero-padded (reflection pads
cost more than the convolutions there). A 640×480 frame costs 1.7 G multiply-adds against the full net's 47 G
(``multiply_adds``). Measured on 2 CPU cores with onnxruntime, the light net went from 5.8 FPS (quarter channels,
separable) to 10.8 (edges at half resolution via pixel unshuffle) to 16.6 (stride-2 first convolution instead of
the unshuffle's transpose, zero-padded residual blocks). Known weakness: the pixel-shuffle output leaves a fine
2-px grid in the trained nets (benchmarks/RESULTS.md); a 3×3 convolution at full resolution after it is the next fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """The shape of a transformer net; stored as JSON in the exported model's metadata."""

    name: str
    channels: tuple[int, int, int]
    residual_blocks: int
    separable: bool
    edge_kernel: int  # first and last convolution
    half_resolution_edges: bool = False  # stride-2 first convolution, pixel-shuffle output: nothing at full size
    # with half_resolution_edges: how the full-size output is made. "pixel_shuffle" (v1): each 2×2 block from four
    # channels (a 2-px grid when they disagree); "upsample_conv" (v2 candidates): nearest ×2 of ``final_channels``
    # maps and a 3×3 convolution at full size (Odena et al. 2016), so neighbouring pixels share their weights
    output: str = "pixel_shuffle"
    final_channels: int = 12
    reflect_residuals: bool = False  # reflection instead of zero padding in the residual blocks (borders)
    # 0: one style, affine instance normalisation. N ≥ 1: N styles in one net, conditional instance normalisation
    # (Dumoulin, Shlens & Kudlur 2017): each normalisation's scale and bias are the style-weights blend of N rows
    styles: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


ARCHITECTURES: dict[str, Architecture] = {
    "full": Architecture("full", (32, 64, 128), residual_blocks=5, separable=False, edge_kernel=9),
    "light": Architecture(
        "light", (24, 24, 64), residual_blocks=4, separable=True, edge_kernel=3, half_resolution_edges=True
    ),
}
# Issue 11's light v2 candidates, measured in benchmarks/light_v2_candidates.py before one is chosen
CANDIDATES: dict[str, Architecture] = {
    f"light2-{channels}{'-reflect' if reflect else ''}": Architecture(
        f"light2-{channels}{'-reflect' if reflect else ''}", (24, 24, 64), residual_blocks=4, separable=True,
        edge_kernel=3, half_resolution_edges=True, output="upsample_conv", final_channels=channels,
        reflect_residuals=reflect,
    )
    for channels in (8, 16)
    for reflect in (False, True)
}  # fmt: skip


OUTPUT_MID, OUTPUT_SWING = 127.5, 150.0


class ConvLayer(nn.Module):
    """Reflection padding then a convolution, so borders are not darkened by zero padding."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, separable: bool = False, reflect: bool = True
    ) -> None:
        super().__init__()
        self.pad = kernel // 2 if reflect else 0
        inner = 0 if reflect else kernel // 2  # zero padding inside the convolution costs nothing extra
        if separable and kernel > 1:
            self.conv = nn.Sequential(
                nn.Conv2d(cin, cin, kernel, stride, padding=inner, groups=cin, bias=False), nn.Conv2d(cin, cout, 1)
            )
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad,) * 4, mode="reflect") if self.pad else x)


class ConditionalInstanceNorm(nn.Module):
    """Instance normalisation whose scale and bias blend N styles' (Dumoulin, Shlens & Kudlur 2017): with
    ``style_weights`` [B, N], scale = weights @ weight[N, C] and bias likewise, so one-hot weights select a style and
    any other weights blend the styles in one pass."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.weight = nn.Parameter(torch.ones(styles, channels))
        self.bias = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        scale = (style_weights @ self.weight)[:, :, None, None]
        shift = (style_weights @ self.bias)[:, :, None, None]
        return self.norm(x) * scale + shift


def instance_norm(channels: int, styles: int) -> nn.Module:
    """Affine instance normalisation for one style, conditional for ``styles`` ≥ 1."""
    return ConditionalInstanceNorm(channels, styles) if styles else nn.InstanceNorm2d(channels, affine=True)


class StyledSequential(nn.Sequential):
    """``nn.Sequential`` that hands the style weights to the layers that take them (state-dict keys unchanged)."""

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        for module in self:
            styled = isinstance(module, (ConditionalInstanceNorm, ResidualBlock, StyledSequential))
            x = module(x, style_weights) if styled else module(x)
        return x


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, separable: bool, reflect: bool = True, styles: int = 0) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, separable=separable, reflect=reflect)
        self.in1 = instance_norm(channels, styles)
        self.conv2 = ConvLayer(channels, channels, 3, separable=separable, reflect=reflect)
        self.in2 = instance_norm(channels, styles)
        self.styles = styles

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        if self.styles:
            y = F.relu(self.in1(self.conv1(x), style_weights))
            return x + self.in2(self.conv2(y), style_weights)
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class UpsampleConv(nn.Module):
    """Nearest ×2 upsampling then a convolution: Odena et al.'s (2016) cure for checkerboard artefacts."""

    def __init__(self, cin: int, cout: int, separable: bool) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3, separable=separable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """RGB 0–255 [B, 3, H, W] → stylised RGB, 127.5 + 150·tanh(·) as in the paper: mid-grey at initialisation
    and the full range within reach of small weights (a plain linear output starts black and needs hundreds of
    steps to grow to 0–255). The range slightly exceeds 0–255; the exported graph clamps it.

    H and W need not be multiples of 4: the output is cropped to the input size after the two ×2 upsamplings.
    """

    def __init__(self, architecture: Architecture) -> None:
        super().__init__()
        self.architecture = architecture
        c1, c2, c3 = architecture.channels
        styles = architecture.styles

        def norm(channels: int) -> nn.Module:
            return instance_norm(channels, styles)

        sep, edge = architecture.separable, architecture.edge_kernel
        if architecture.half_resolution_edges:
            self.encoder = StyledSequential(
                ConvLayer(3, c1, edge, stride=2), norm(c1), nn.ReLU(),
                ConvLayer(c1, c3, 3, stride=2), norm(c3), nn.ReLU(),
            )  # fmt: skip
            blocks, reflect = architecture.residual_blocks, architecture.reflect_residuals
            self.residuals = StyledSequential(
                *(ResidualBlock(c3, sep, reflect=reflect, styles=styles) for _ in range(blocks))
            )
            if architecture.output == "upsample_conv":
                final = architecture.final_channels
                self.decoder = StyledSequential(
                    nn.Conv2d(c3, c2, 1), nn.Upsample(scale_factor=2.0, mode="nearest"),
                    ConvLayer(c2, final, 3), norm(final), nn.ReLU(),
                    nn.Upsample(scale_factor=2.0, mode="nearest"), ConvLayer(final, 3, edge),
                )  # fmt: skip
                return
            self.decoder = StyledSequential(
                nn.Conv2d(c3, c2, 1), nn.Upsample(scale_factor=2.0, mode="nearest"),
                ConvLayer(c2, c2, 3), norm(c2), nn.ReLU(),
                ConvLayer(c2, 12, edge), nn.PixelShuffle(2),
            )  # fmt: skip
            return
        self.encoder = StyledSequential(
            ConvLayer(3, c1, edge), norm(c1), nn.ReLU(),
            ConvLayer(c1, c2, 3, stride=2), norm(c2), nn.ReLU(),
            ConvLayer(c2, c3, 3, stride=2), norm(c3), nn.ReLU(),
        )  # fmt: skip
        blocks = architecture.residual_blocks
        self.residuals = StyledSequential(*(ResidualBlock(c3, sep, styles=styles) for _ in range(blocks)))
        self.decoder = StyledSequential(
            UpsampleConv(c3, c2, sep), norm(c2), nn.ReLU(),
            UpsampleConv(c2, c1, sep), norm(c1), nn.ReLU(),
            ConvLayer(c1, 3, edge),
        )  # fmt: skip

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        """``style_weights`` [B, N] (a net of N styles only): one-hot selects a style, other weights blend them."""
        height, width = image.shape[2], image.shape[3]
        if self.architecture.styles and style_weights is None:
            raise ValueError(f"a net of {self.architecture.styles} styles needs style weights")
        features = self.residuals(self.encoder(image, style_weights), style_weights)
        out = self.decoder(features, style_weights)
        return OUTPUT_MID + OUTPUT_SWING * torch.tanh(out[:, :, :height, :width])


# Pixels of reflection added around the input and cropped from the output. Zero padding inside the light nets'
# residual blocks darkened (or lightened) a 3-px frame by up to 10–24 levels; with 8 px of reflected image around it
# the frame sits outside the result: 0.5–1.6 levels from the next 12 px, as in photographs (benchmarks/RESULTS.md).
# A multiple of 4 keeps the net's stride grid; 6 % more pixels at 640×480.
BORDER = 8


class ClampedNet(nn.Module):
    """What is exported: the net run on the input with ``border`` px of reflection around it, cropped back, and
    clamped to 0–255, ready to be written as an image."""

    def __init__(self, net: TransformerNet, border: int = BORDER) -> None:
        super().__init__()
        self.net = net
        self.border = border

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        b = self.border
        if not b:
            return self.net(image, style_weights).clamp(0.0, 255.0)
        out = self.net(F.pad(image, (b, b, b, b), mode="reflect"), style_weights).clamp(0.0, 255.0)
        return out[:, :, b:-b, b:-b]


def build(name: str, styles: int = 0) -> TransformerNet:
    """A freshly initialised net of a shipped architecture or an issue-11 candidate; ``styles`` ≥ 1 makes it a net
    of that many styles (conditional instance normalisation)."""
    known = ARCHITECTURES | CANDIDATES
    if name not in known:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(known)}")
    return TransformerNet(replace(known[name], styles=styles))


def multiply_adds(net: TransformerNet, height: int, width: int) -> int:
    """Convolution multiply-adds for one H×W frame, counted with forward hooks on a real pass."""
    total = 0

    def count(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * per_output

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, height, width))
    finally:
        for hook in hooks:
            hook.remove()
    return total
