"""``max_pool2d``, ``avg_pool2d`` and ``adaptive_avg_pool2d`` over strided window views.

The windows of a padded (N, C, Hp, Wp) input are one strided view of shape
(kh, kw, N, C, Ho, Wo): the kernel offsets come first, so every step works on
whole (N, C, Ho, Wo) slabs at once and the only loop is over the kh*kw offsets.
"""
import functools

import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from ._grad_paths import constant, namespace_of, run
from ._pool_max import max_and_index, scatter_to_max
from ...ops.shape import reshape
from .conv import _pair


def _out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size; with ceil_mode the last window must start inside the input or left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


_SAMPLE = {2: "H, W", 3: "D, H, W"}  # the spatial axes of a sample, by the pool's dimensions


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op, dims=2):
    """Kernel, stride, padding, dilation tuples (of ``dims`` entries) and the output size; checks as PyTorch
    does."""
    if x.ndim != dims + 2:
        raise ValueError(f"{op}: expected input of shape (N, C, {_SAMPLE[dims]}) or (C, {_SAMPLE[dims]}), got "
                         f"{tuple(x.shape)}")
    kernel = _pair(kernel_size, "kernel_size", dims)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", dims)
    padding, dilation = _pair(padding, "padding", dims), _pair(dilation, "dilation", dims)
    if min(kernel + stride + dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be positive and "
                         f"padding {padding} non-negative")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel}")
    out = tuple(_out_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{op}: input {tuple(x.shape)} is too small for kernel {kernel} with padding {padding} "
                         f"and dilation {dilation} (output size {out})")
    return kernel, stride, padding, dilation, out


def _batch_last(a):
    """Whether (N, C, H, W) ``a`` is stored batch-last, (C, H, W, N), as ``conv2d`` leaves its output."""
    return a.shape[0] > 1 and a.transpose(1, 2, 3, 0).flags.c_contiguous


def _empty_like_layout(xp, like, shape, dtype):
    """An empty (N, C, H, W) array of ``shape``, stored batch-last when ``like`` is: the layout carries through."""
    if not _batch_last(like):
        return xp.empty(shape, dtype)
    return xp.empty(tuple(shape[1:]) + tuple(shape[:1]), dtype).transpose(3, 0, 1, 2)


def _padded(xp, x, padding, extent, fill):
    """``x`` inside a (N, C, Hp, Wp) array (of the layout of ``x``) filled with ``fill``, large enough for every
    window; ``x`` itself when no padding is needed."""
    (n, c, h, w), (ph, pw) = x.shape, padding
    hp, wp = max(h + 2 * ph, extent[0]), max(w + 2 * pw, extent[1])
    if (hp, wp) == (h, w):
        return x
    out = _empty_like_layout(xp, x, (n, c, hp, wp), x.dtype)
    out[...] = fill
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _slabs(xp, windows):
    """A copy of the (kh, kw, N, C, Ho, Wo) ``windows`` as (kh*kw, N, C, Ho, Wo) slabs, stored batch-last when the
    windows' memory is, so that every later step runs on whole slabs laid out as the input."""
    shape = (windows.shape[0] * windows.shape[1],) + windows.shape[2:]
    n, c, ho, wo = windows.shape[2:]
    sn = windows.strides[2]
    if n > 1 and sn == windows.itemsize and min(windows.strides[3:]) > sn:
        slabs = xp.empty((shape[0], c, ho, wo, n), windows.dtype).transpose(0, 4, 1, 2, 3)
    else:
        slabs = xp.empty(shape, windows.dtype)
    slabs.reshape(windows.shape)[...] = windows
    return slabs


def _windows(xp, a, kernel, stride, dilation, out):
    """The (kh, kw, N, C, Ho, Wo) view of the windows of the array ``a`` (of any strides)."""
    sn, sc, sh, sw = a.strides
    shape = kernel + a.shape[:2] + out
    strides = (dilation[0] * sh, dilation[1] * sw, sn, sc, stride[0] * sh, stride[1] * sw)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


def _extent(kernel, stride, dilation, out):
    return tuple((o - 1) * s + d * (k - 1) + 1 for k, s, d, o in zip(kernel, stride, dilation, out))


def _targets(xp, ga, kernel, stride, dilation, out):
    """The (N, C, Ho, Wo) view of ``ga`` that each kernel offset reads, and whether the windows are disjoint.

    Backward passes add each offset's gradient into its view, one offset at a time (a single 6-d
    assignment would run its inner loop over the tiny kernel axis); disjoint windows can assign.
    """
    windows = _windows(xp, ga, kernel, stride, dilation, out)
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
    return disjoint, [windows[k // kernel[1], k % kernel[1]] for k in range(kernel[0] * kernel[1])]


def _crop(g, padding, shape):
    """The part of a padded gradient that belongs to the input."""
    (ph, pw), (h, w) = padding, shape[2:]
    if g.shape[2:] == (h, w):
        return g
    return g[:, :, ph:ph + h, pw:pw + w].copy(order="K")


class MaxPool2dFunction(Function):
    """The maximum of each window; the gradient goes to the first maximum of each window (PyTorch's argmax).

    With ``with_indices`` a second output holds, as PyTorch's ``return_indices``, the position of each
    maximum in its flattened (H, W) input plane.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out, with_indices=False):
        xp = get_array_module(x)
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        a = _padded(xp, x, padding, _extent(kernel, stride, dilation, out), fill)
        # one strided copy of the windows; every later step runs on whole (N, C, Ho, Wo) slabs
        y = _empty_like_layout(xp, x, x.shape[:2] + tuple(out), x.dtype)
        index = _empty_like_layout(xp, x, y.shape, xp.int8 if kernel[0] * kernel[1] < 128 else xp.int32)
        max_and_index(_windows(xp, a, kernel, stride, dilation, out), _slabs, y, index)
        ctx.args = (x.shape, a.shape, kernel, stride, padding, dilation, out)
        ctx.save_for_backward(index)
        if not with_indices:
            return y
        i, j = xp.divmod(index.astype(xp.int64), kernel[1])
        rows = xp.arange(out[0]).reshape(-1, 1) * stride[0] - padding[0] + i * dilation[0]
        cols = xp.arange(out[1]) * stride[1] - padding[1] + j * dilation[1]
        return y, rows * x.shape[3] + cols

    @staticmethod
    def backward(ctx, gy, gindices=None):
        index, = ctx.saved_tensors
        return run(MaxPoolScatter, namespace_of(gy), gy, index, ctx.args), None, None, None, None, None, None


class MaxPoolScatter(Function):
    """Each window's gradient written to the position of its maximum (a constant ``index``); linear in ``gy``,
    its adjoint reads the same positions back (``MaxPoolGather``)."""

    @staticmethod
    def forward(ctx, gy, index, args):
        ctx.index, ctx.args = index, args
        x_shape, a_shape, kernel, stride, padding, dilation, out = args
        xp = get_array_module(gy)
        ga = _empty_like_layout(xp, gy, a_shape, gy.dtype)
        scatter_to_max(ga, gy, index, *_targets(xp, ga, kernel, stride, dilation, out)[::-1])
        return _crop(ga, padding, x_shape)

    @staticmethod
    def backward(ctx, ggx):
        return run(MaxPoolGather, namespace_of(ggx), ggx, ctx.index, ctx.args), None, None


class MaxPoolGather(Function):
    """The value at the position of each window's maximum (a constant ``index``); adjoint of ``MaxPoolScatter``."""

    @staticmethod
    def forward(ctx, x, index, args):
        ctx.index, ctx.args = index, args
        x_shape, a_shape, kernel, stride, padding, dilation, out = args
        xp = get_array_module(x)
        windows = _windows(xp, _padded(xp, x, padding, a_shape[2:], 0), kernel, stride, dilation, out)
        slabs = windows.reshape((kernel[0] * kernel[1],) + windows.shape[2:])
        return xp.take_along_axis(slabs, index[None].astype(xp.intp), axis=0)[0]

    @staticmethod
    def backward(ctx, gy):
        return run(MaxPoolScatter, namespace_of(gy), gy, ctx.index, ctx.args), None, None


class AvgPool2dFunction(Function):
    """The mean of each window; ``divisor`` is a number or an (Ho, Wo) array. Linear: the gradient is the
    adjoint (``AvgPoolScatter``), whose own gradient is this pool again."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, out, divisor):
        xp = get_array_module(x)
        a = _padded(xp, x, padding, _extent(kernel, stride, (1, 1), out), 0)
        slabs = _slabs(xp, _windows(xp, a, kernel, stride, (1, 1), out))
        y = slabs.sum(axis=0)
        y /= divisor
        ctx.args = (x.shape, a.shape, kernel, stride, padding, out, divisor)
        return y

    @staticmethod
    def backward(ctx, gy):
        return run(AvgPoolScatter, namespace_of(gy), gy, ctx.args), None, None, None, None, None


class AvgPoolScatter(Function):
    """Each window's gradient divided by its size and added to every position it covers."""

    @staticmethod
    def forward(ctx, gy, args):
        ctx.args = args
        x_shape, a_shape, kernel, stride, padding, out, divisor = args
        xp = get_array_module(gy)
        g = gy / divisor
        ga = _empty_like_layout(xp, g, a_shape, g.dtype)
        ga[...] = 0
        disjoint, targets = _targets(xp, ga, kernel, stride, (1, 1), out)
        for target in targets:
            if disjoint:
                target[...] = g
            else:
                target += g
        return _crop(ga, padding, x_shape)

    @staticmethod
    def backward(ctx, ggx):
        _, _, kernel, stride, padding, out, divisor = ctx.args
        return run(AvgPool2dFunction, namespace_of(ggx), ggx, kernel, stride, padding, out, divisor), None


def unbatched(sample_ndim):
    """A decorator that lets a pooling function also take one unbatched sample of ``sample_ndim`` dimensions,
    as PyTorch's do: (C, H, W) for the 2-d pools, (C, D, H, W) for the 3-d ones."""
    def decorate(fn):
        @functools.wraps(fn)
        def pool(x, *args, **kwargs):
            if x.ndim != sample_ndim:
                return fn(x, *args, **kwargs)
            y = fn(reshape(x, (1,) + tuple(x.shape)), *args, **kwargs)
            if isinstance(y, tuple):
                return tuple(reshape(t, t.shape[1:]) for t in y)
            return reshape(y, y.shape[1:])
        return pool
    return decorate


_unbatched = unbatched(3)


def _divisor_1d(n, k, s, p, out, count_include_pad):
    """Per output position along one axis: the window length counted by PyTorch's average pooling."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


@_unbatched
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum over each (dilated) window of (N, C, H, W), as PyTorch's; padding counts as -inf."""
    kernel, stride, padding, dilation, out = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode,
                                                       "max_pool2d")
    return MaxPool2dFunction.apply(x, kernel, stride, padding, dilation, out, bool(return_indices))


@_unbatched
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean over each window of (N, C, H, W), as PyTorch's (zero padding, optionally not counted)."""
    kernel, stride, padding, _, out = _geometry(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None:
        divisor = divisor_override
    else:
        dh, dw = (_divisor_1d(n, k, s, p, o, count_include_pad)
                  for n, k, s, p, o in zip(x.shape[2:], kernel, stride, padding, out))
        if (dh == kernel[0]).all() and (dw == kernel[1]).all():
            divisor = kernel[0] * kernel[1]
        else:
            divisor = get_array_module(x.data).asarray(np.outer(dh, dw).astype(x.dtype))
    return AvgPool2dFunction.apply(x, kernel, stride, padding, out, divisor)


class AdaptivePoolMatrices(Function):
    """``rows @ x @ cols.T`` on the last two axes: each output cell is a weighted sum of its input cells."""

    @staticmethod
    def forward(ctx, x, rows, cols):
        ctx.matrices = rows, cols
        return rows @ (x @ cols.T)

    @staticmethod
    def backward(ctx, gy):
        xp = namespace_of(gy)
        rows, cols = (constant(xp, m) for m in ctx.matrices)
        return rows.swapaxes(0, 1) @ gy @ cols, None, None


def _adaptive_matrix(n, out, dtype):
    """(out, n): row i averages PyTorch's cells floor(i*n/out) to ceil((i+1)*n/out)."""
    i = np.arange(out)
    start, end = i * n // out, -(-(i + 1) * n // out)
    cells = np.arange(n)
    inside = (cells >= start[:, None]) & (cells < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


@_unbatched
def adaptive_avg_pool2d(x, output_size):
    """Average over PyTorch's adaptive windows so that (N, C, H, W) becomes (N, C, *output_size)."""
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: expected input of shape (N, C, H, W) or (C, H, W), got "
                         f"{tuple(x.shape)}")
    h, w = x.shape[2:]
    output_size = (output_size,) * 2 if isinstance(output_size, int) or output_size is None else output_size
    oh, ow = (n if o is None else int(o) for n, o in zip((h, w), output_size))
    if min(oh, ow) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output size {(oh, ow)} must be positive")
    if h % oh == 0 and w % ow == 0:
        # equal windows: an ordinary average pool
        return avg_pool2d(x, (h // oh, w // ow))
    xp = get_array_module(x.data)
    rows, cols = (xp.asarray(_adaptive_matrix(n, o, x.dtype)) for n, o in ((h, oh), (w, ow)))
    return AdaptivePoolMatrices.apply(x, rows, cols)
