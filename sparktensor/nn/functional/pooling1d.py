"""``max_pool1d``, ``avg_pool1d`` and ``adaptive_avg_pool1d``: the 2-d pools over (N, C, 1, L), as PyTorch's 1-d
pools (same windows, padding rules and indices)."""
from ...ops.shape import squeeze, unsqueeze
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = ["max_pool1d", "avg_pool1d", "adaptive_avg_pool1d"]


def _one(value, name, op):
    """An int from an int or a 1-tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {value}")
        value = value[0]
    return int(value)


def _rows(x, op):
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input of shape (N, C, L) or (C, L), got {tuple(x.shape)}")
    return unsqueeze(x, -2)  # one row: (N, C, 1, L) or (C, 1, L)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum over each (dilated) window along the last axis; padding counts as -inf."""
    k = _one(kernel_size, "kernel_size", "max_pool1d")
    s = k if stride is None or stride == () else _one(stride, "stride", "max_pool1d")
    p, d = _one(padding, "padding", "max_pool1d"), _one(dilation, "dilation", "max_pool1d")
    y = max_pool2d(_rows(input, "max_pool1d"), (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:
        return squeeze(y[0], -2), squeeze(y[1], -2)
    return squeeze(y, -2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """The mean over each window along the last axis (zero padding, optionally not counted)."""
    k = _one(kernel_size, "kernel_size", "avg_pool1d")
    s = k if stride is None or stride == () else _one(stride, "stride", "avg_pool1d")
    p = _one(padding, "padding", "avg_pool1d")
    return squeeze(avg_pool2d(_rows(input, "avg_pool1d"), (1, k), (1, s), (0, p), ceil_mode, count_include_pad), -2)


def adaptive_avg_pool1d(input, output_size):
    """The mean over PyTorch's adaptive windows, so that the last axis has ``output_size`` entries."""
    return squeeze(adaptive_avg_pool2d(_rows(input, "adaptive_avg_pool1d"),
                                       (1, _one(output_size, "output_size", "adaptive_avg_pool1d"))), -2)
