"""``Conv1d``, ``Conv2d`` and ``Conv3d``: PyTorch's parameters, initialization and repr over ``conv1d`` and ``conv2d``."""

from ... import creation
from .. import init
from ...ops.shape import pad
from ..functional.conv import _pair, conv1d, conv2d
from ..functional.conv3d import conv3d
from ..parameter import Parameter
from .module import Module


# PyTorch's padding modes and the NumPy pad modes that fill the same values
_PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class _ConvNd(Module):
    """Shared by ``Conv1d``, ``Conv2d`` and ``Conv3d``: ``weight`` (out, in/groups, *kernel) and ``bias`` (out)."""

    _conv = None
    _input = ""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype,
                 device, spatial, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {', '.join(map(repr, _PADDING_MODES))}, got "
                             f"{padding_mode!r}")
        self.padding_mode = padding_mode
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} must both be "
                             f"divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size", spatial)
        self.stride = _pair(stride, "stride", spatial)
        self.dilation = _pair(dilation, "dilation", spatial)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride {self.stride}")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding", spatial)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: kaiming-uniform weight (a = sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        ndim, expected = 2 + len(self.kernel_size), self._input.format(self.in_channels)
        if x.ndim != ndim:
            raise ValueError(f"{self!r}: expected a {ndim}-d input {expected}, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected {self.in_channels} input channels, input {expected}, got shape "
                             f"{tuple(x.shape)} with {x.shape[1]} channels")
        if self.padding_mode == "zeros":
            return self._conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return self._conv(pad(x, self._pad_width(x), _PADDING_MODES[self.padding_mode]), self.weight, self.bias,
                          self.stride, 0, self.dilation, self.groups)

    def _pad_width(self, x):
        """(before, after) per axis of the input for ``padding`` (ints or ``"same"``/``"valid"``)."""
        if self.padding == "valid":
            spatial = [(0, 0)] * len(self.kernel_size)
        elif self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            spatial = [(t // 2, t - t // 2) for t in total]
        else:
            spatial = [(p, p) for p in self.padding]
        return [(0, 0), (0, 0)] + spatial

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.kernel_size):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.kernel_size):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-d convolution over (N, C_in, L).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: length of the kernel.
        stride: step between windows.
        padding: zeros added on both sides (an int), or ``"same"`` / ``"valid"``.
        dilation: spacing between kernel elements.
        groups: split the channels into this many independent groups.
        bias: whether to add a learned bias.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``: what fills the padding.

    Shape:
        input (N, C_in, L); output (N, C_out, L_out) with
        L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1.
    """

    _conv = staticmethod(conv1d)
    _input = "(N, {}, L)"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype,
                         device, 1, padding_mode)


class Conv2d(_ConvNd):
    """2-d convolution over (N, C_in, H, W).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: an int or (kh, kw).
        stride: step between windows, an int or a pair.
        padding: zeros added on both sides, an int or a pair, or ``"same"`` / ``"valid"``.
        dilation: spacing between kernel elements, an int or a pair.
        groups: split the channels into this many independent groups (``in_channels`` for depthwise).
        bias: whether to add a learned bias.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``: what fills the padding.

    Shape:
        input (N, C_in, H, W); output (N, C_out, H_out, W_out) with
        H_out = (H + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1, W_out likewise.
    """

    _conv = staticmethod(conv2d)
    _input = "(N, {}, H, W)"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype,
                         device, 2, padding_mode)


class Conv3d(_ConvNd):
    """3-d convolution over (N, C_in, D, H, W).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: an int or (kd, kh, kw).
        stride: step between windows, an int or a triple.
        padding: zeros added on both sides, an int or a triple, or ``"same"`` / ``"valid"``.
        dilation: spacing between kernel elements, an int or a triple.
        groups: split the channels into this many independent groups.
        bias: whether to add a learned bias.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``: what fills the padding.

    Shape:
        input (N, C_in, D, H, W); output (N, C_out, D_out, H_out, W_out), each size as ``Conv2d``'s H_out.
        Weight (C_out, C_in / groups, kd, kh, kw).
    """

    _conv = staticmethod(conv3d)
    _input = "(N, {}, D, H, W)"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, dtype,
                         device, 3, padding_mode)
