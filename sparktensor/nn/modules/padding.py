"""``ZeroPad1d``, ``ZeroPad2d`` and ``ConstantPad2d``: pad the trailing axes with a constant."""
from ...ops.shape import pad
from .module import Module


class _ConstantPadNd(Module):
    dims = None

    def __init__(self, padding, value=0.0):
        super().__init__()
        padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(padding) != 2 * self.dims or any(p < 0 for p in padding):
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} non-negative ints "
                             f"(left, right{', top, bottom' if self.dims == 2 else ''}), got {padding}")
        self.padding, self.value = padding, value

    def forward(self, x):
        if x.ndim < self.dims + 1:
            raise ValueError(f"{self!r}: expected at least {self.dims + 1}-D input, got shape {tuple(x.shape)}")
        # PyTorch's order: (left, right) of the last axis first, then (top, bottom) of the one before
        pairs = [tuple(self.padding[i:i + 2]) for i in range(0, len(self.padding), 2)][::-1]
        return pad(x, [(0, 0)] * (x.ndim - self.dims) + pairs, constant_values=self.value)

    def extra_repr(self):
        return f"{self.padding}, value={self.value}"


class ZeroPad1d(_ConstantPadNd):
    """Pad the last axis with zeros.

    Args:
        padding: an int, or (left, right).

    Shape:
        input (*, W); output (*, W + left + right).
    """
    dims = 1

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(_ConstantPadNd):
    """Pad the last two axes with zeros.

    Args:
        padding: an int, or (left, right, top, bottom).

    Shape:
        input (*, H, W); output (*, H + top + bottom, W + left + right).
    """
    dims = 2

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two axes with ``value``.

    Args:
        padding: an int, or (left, right, top, bottom).
        value: the fill value.

    Shape:
        input (*, H, W); output (*, H + top + bottom, W + left + right).
    """
    dims = 2
