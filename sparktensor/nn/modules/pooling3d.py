"""``MaxPool3d``, ``AvgPool3d`` and ``AdaptiveAvgPool3d``: the 2-d layers' arguments over the 3-d functional pools."""
from ..functional.pooling3d import adaptive_avg_pool3d, avg_pool3d, max_pool3d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d


class MaxPool3d(MaxPool2d):
    """The maximum over each window.

    Args:
        kernel_size: an int or (kd, kh, kw).
        stride: step between windows (default ``kernel_size``).
        padding: implicit -inf padding on both sides, at most half the kernel.
        dilation: spacing between window elements.
        return_indices: also return the position of each maximum in its flattened (D, H, W) volume.
        ceil_mode: round the output size up, so windows may run past the far edges.

    Shape:
        input (N, C, D, H, W) or (C, D, H, W); output (N, C, D_out, H_out, W_out), each size as ``MaxPool2d``'s.
    """

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool3d(AvgPool2d):
    """The mean over each window.

    Args:
        kernel_size: an int or (kd, kh, kw).
        stride: step between windows (default ``kernel_size``).
        padding: implicit zero padding on both sides, at most half the kernel.
        ceil_mode: round the output size up, so windows may run past the far edges.
        count_include_pad: whether the zero padding counts in the divisor.
        divisor_override: divide every window sum by this instead.

    Shape:
        input (N, C, D, H, W) or (C, D, H, W); output (N, C, D_out, H_out, W_out), each size as ``AvgPool2d``'s.
    """

    def forward(self, x):
        return avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """The mean over PyTorch's adaptive windows, which split the input evenly into the requested output size.

    Args:
        output_size: an int or (D_out, H_out, W_out); ``None`` keeps that input size.

    Shape:
        input (N, C, D, H, W) or (C, D, H, W); output (N, C, D_out, H_out, W_out).
    """

    def forward(self, x):
        return adaptive_avg_pool3d(x, self.output_size)
