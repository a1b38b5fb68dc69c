"""``max_pool3d``, ``avg_pool3d`` and ``adaptive_avg_pool3d`` as two 2-d pools: over (H, W), then over D.

The three pools are separable: a 3-d window's maximum is the maximum over its depth of the (H, W) maxima, its
mean divides by a count that is the product of the per-axis counts (PyTorch's, with or without padding), and an
adaptive window is the product of the per-axis adaptive ranges. The first pass treats (N, C*D, H, W) as
images; the second pools (N, C, D, H_out*W_out) with a (kd, 1) window. Ties go, as PyTorch's, to the first
maximum in (d, h, w) order: the first depth holding the maximum, and within it the first (h, w).
"""
from ...backend import get_array_module
from ...tensor import Tensor
from .pooling import _geometry, adaptive_avg_pool2d, avg_pool2d, max_pool2d, unbatched


_unbatched = unbatched(4)  # (C, D, H, W)


def _check(x, kernel_size, stride, padding, dilation, ceil_mode, op):
    """Kernel, stride, padding and dilation triples, checked as PyTorch does, naming the 3-d sizes."""
    return _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op, dims=3)[:4]


def _planes(x):
    n, c, d, h, w = x.shape
    return x.reshape(n, c * d, h, w)


def _depth_rows(x, plane):
    """(N, C, D, H_out*W_out) from the (N, C*D, H_out, W_out) result of the first pass."""
    return plane.reshape(x.shape[:3] + (-1,))


def _volume(y, plane):
    """(N, C, D_out, H_out, W_out) from the second pass."""
    return y.reshape(tuple(y.shape[:3]) + tuple(plane.shape[2:]))


@_unbatched
def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum over each (dilated) window of (N, C, D, H, W), as PyTorch's; padding counts as -inf."""
    k, s, p, d = _check(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool3d")
    plane = max_pool2d(_planes(x), k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices)
    plane, plane_index = plane if return_indices else (plane, None)
    y = max_pool2d(_depth_rows(x, plane), (k[0], 1), (s[0], 1), (p[0], 0), (d[0], 1), ceil_mode, return_indices)
    if not return_indices:
        return _volume(y, plane)
    y, depth_index = y
    xp = get_array_module(y.data)
    # the second pass's index is depth * (H_out*W_out) + column; the first pass's is h * W + w at that depth
    depth = depth_index.data // plane.shape[2] // plane.shape[3]
    within = xp.take_along_axis(plane_index.data.reshape(x.shape[:3] + (-1,)), depth, axis=2)
    index = depth * (x.shape[3] * x.shape[4]) + within
    return _volume(y, plane), Tensor(index.reshape(tuple(y.shape[:3]) + tuple(plane.shape[2:])))


@_unbatched
def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean over each window of (N, C, D, H, W), as PyTorch's (zero padding, optionally not counted)."""
    k, s, p, _ = _check(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool3d")
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool3d: divisor_override must be positive, got {divisor_override}")
    # with an override, both passes sum and the override divides once
    each = None if divisor_override is None else 1
    plane = avg_pool2d(_planes(x), k[1:], s[1:], p[1:], ceil_mode, count_include_pad, each)
    y = avg_pool2d(_depth_rows(x, plane), (k[0], 1), (s[0], 1), (p[0], 0), ceil_mode, count_include_pad, each)
    y = _volume(y, plane)
    return y if divisor_override is None else y / divisor_override


@_unbatched
def adaptive_avg_pool3d(x, output_size):
    """Average over PyTorch's adaptive windows so that (N, C, D, H, W) becomes (N, C, *output_size)."""
    if x.ndim != 5:
        raise ValueError(f"adaptive_avg_pool3d: expected input of shape (N, C, D, H, W) or (C, D, H, W), got "
                         f"{tuple(x.shape)}")
    sizes = (output_size,) * 3 if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != 3:
        raise ValueError(f"adaptive_avg_pool3d: output_size must be an int or 3 sizes, got {output_size}")
    od, oh, ow = (n if o is None else int(o) for n, o in zip(x.shape[2:], sizes))
    if min(od, oh, ow) < 1:
        raise ValueError(f"adaptive_avg_pool3d: output size {(od, oh, ow)} must be positive")
    plane = adaptive_avg_pool2d(_planes(x), (oh, ow))
    return _volume(adaptive_avg_pool2d(_depth_rows(x, plane), (od, None)), plane)
