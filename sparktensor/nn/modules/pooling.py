"""``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``: PyTorch's arguments and repr over the functional pools."""
from ..functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .module import Module


class MaxPool2d(Module):
    """The maximum over each window.

    Args:
        kernel_size: an int or (kh, kw).
        stride: step between windows (default ``kernel_size``).
        padding: implicit -inf padding on both sides, at most half the kernel.
        dilation: spacing between window elements.
        return_indices: also return the position of each maximum in its flattened (H, W) plane.
        ceil_mode: round the output size up, so windows may run past the bottom and right edges.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) with
        H_out = (H + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1 (rounded up in ceil_mode).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean over each window.

    Args:
        kernel_size: an int or (kh, kw).
        stride: step between windows (default ``kernel_size``).
        padding: implicit zero padding on both sides, at most half the kernel.
        ceil_mode: round the output size up, so windows may run past the bottom and right edges.
        count_include_pad: whether the zero padding counts in the divisor.
        divisor_override: divide every window sum by this instead.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) with
        H_out = (H + 2 * padding - kernel_size) // stride + 1 (rounded up in ceil_mode).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """The mean over PyTorch's adaptive windows, which split the input evenly into the requested output size.

    Args:
        output_size: an int or (H_out, W_out); ``None`` keeps that input size.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
