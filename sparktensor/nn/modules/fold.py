"""``Unfold`` and ``Fold``: sliding windows to columns and back."""
from ..functional.fold import fold, unfold
from .module import Module


class Unfold(Module):
    """Extract sliding local blocks of a batched image as columns (im2col).

    Args:
        kernel_size, dilation, padding, stride: of the sliding window, ints or pairs.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C*kh*kw, L) or (C*kh*kw, L), L the number of windows.
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Combine sliding local blocks (columns) into an image, adding where blocks overlap (col2im).

    Args:
        output_size: (H, W) of the image.
        kernel_size, dilation, padding, stride: of the sliding window, ints or pairs.

    Shape:
        input (N, C*kh*kw, L) or (C*kh*kw, L); output (N, C, H, W) or (C, H, W).
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x):
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
