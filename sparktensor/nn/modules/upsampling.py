"""``ConvTranspose1d``, ``ConvTranspose2d``, ``Upsample``, ``PixelShuffle`` and ``PixelUnshuffle``."""
from ... import creation
from .. import init
from ..functional.upsampling import conv_transpose1d, conv_transpose2d, interpolate, pixel_shuffle, pixel_unshuffle
from ..parameter import Parameter
from .module import Module


class _ConvTransposeNd(Module):
    spatial, function = None, None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch), got {padding_mode!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} must both be "
                             f"divisible by groups={groups}")
        n = self.spatial
        tup = lambda v: (v,) * n if isinstance(v, int) else tuple(v)  # noqa: E731
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = tup(kernel_size), tup(stride), tup(padding)
        self.output_padding, self.dilation, self.padding_mode = tup(output_padding), tup(dilation), padding_mode
        self.weight = Parameter(creation.empty((in_channels, out_channels // groups) + self.kernel_size, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: kaiming-uniform weight (a = sqrt(5)) with fan-in from axis 1, bias to match."""
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        return type(self).function(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-d convolution over (N, C_in, L) (the gradient of ``Conv1d`` with respect to its input).

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, dilation, groups: as ``Conv1d``'s.
        output_padding: extra entries added at the end of the output.
        bias: whether to add a learned bias.

    Shape:
        input (N, C_in, L); output (N, C_out, (L - 1) * stride - 2 * padding + dilation * (k - 1) +
        output_padding + 1). Weight (C_in, C_out / groups, k).
    """
    spatial, function = 1, staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-d convolution over (N, C_in, H, W) (the gradient of ``Conv2d`` with respect to its input).

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, dilation, groups: as ``Conv2d``'s.
        output_padding: extra rows and columns added at the end of the output.
        bias: whether to add a learned bias.

    Shape:
        input (N, C_in, H, W); output (N, C_out, H_out, W_out), each as ``ConvTranspose1d``'s length.
        Weight (C_in, C_out / groups, kh, kw).
    """
    spatial, function = 2, staticmethod(conv_transpose2d)


class Upsample(Module):
    """Resize the spatial axes: ``mode`` ``"nearest"``, ``"linear"`` or ``"bilinear"``.

    Args:
        size: the output's spatial size, or
        scale_factor: its ratio to the input's.
        mode: the sampling.
        align_corners: for the linear modes, whether the corner pixels' centers line up.

    Shape:
        input (N, C, L) or (N, C, H, W); output with the new spatial size.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class PixelShuffle(Module):
    """(*, C * r**2, H, W) to (*, C, H * r, W * r).

    Args:
        upscale_factor: r.

    Shape:
        input (*, C * r**2, H, W); output (*, C, H * r, W * r).
    """

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) to (*, C * r**2, H, W).

    Args:
        downscale_factor: r.

    Shape:
        input (*, C, H * r, W * r); output (*, C * r**2, H, W).
    """

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
