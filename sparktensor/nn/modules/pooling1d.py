"""``MaxPool1d``, ``AvgPool1d`` and ``AdaptiveAvgPool1d`` over ``nn.functional.pooling1d``."""
from ..functional.pooling1d import adaptive_avg_pool1d, avg_pool1d, max_pool1d
from .module import Module
from .pooling import MaxPool2d


class MaxPool1d(MaxPool2d):
    """The maximum over each window of the last axis (MaxPool2d's arguments, as ints).

    Args:
        kernel_size, stride (default ``kernel_size``), padding (-inf, at most half the kernel), dilation,
        return_indices (also the position of each maximum), ceil_mode (round the output size up).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    def forward(self, x):
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


def _tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class AvgPool1d(Module):
    """The mean over each window of the last axis.

    Args:
        kernel_size, stride (default ``kernel_size``), padding (zeros, at most half the kernel), ceil_mode,
        count_include_pad (whether the padding counts in the divisor).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = _tuple(kernel_size)
        self.stride = _tuple(stride if stride is not None else kernel_size)
        self.padding, self.ceil_mode, self.count_include_pad = _tuple(padding), ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """The mean over PyTorch's adaptive windows of the last axis.

    Shape:
        input (N, C, L) or (C, L); output (N, C, output_size).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
