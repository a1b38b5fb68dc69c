"""Batch norm on arrays in few passes: per-channel sums over the channel's contiguous rows of memory.

A batch-last input (what ``conv2d`` returns: (N, C, H, W) viewed from (C, H, W, N) memory) is one contiguous
row per channel, (C, H*W*N); a C-contiguous one is N rows per channel, (N, C, H*W). Sums and dot products run
along those rows, and the output is written over the centred rows; the backward needs only ``x``, the mean and
``1 / std`` (the normalized input is not kept).
"""
import numpy as np

from ... import parallel
from ...backend import get_array_module


class ChannelRows:
    """A view of an (N, C, ...) array as rows per channel, and the way back to the (N, C, ...) shape."""

    def __init__(self, x):
        n, c = x.shape[:2]
        self.shape, self.count, self.on_cpu = x.shape, x.size // max(c, 1), get_array_module(x) is np
        batch_last = x.transpose(tuple(range(1, x.ndim)) + (0,))
        self.batch_last = x.ndim > 2 and n > 1 and batch_last.flags.c_contiguous
        if self.batch_last:
            self.layout, self.axes = (c, -1), (1,)
        else:
            self.layout, self.axes = (n, c, -1), (0, 2)

    def rows(self, a):
        """``a`` (of the input's shape) in this layout: a view when its memory is laid out alike, else a copy."""
        xp = get_array_module(a)
        if self.batch_last:
            return xp.ascontiguousarray(a.transpose(tuple(range(1, a.ndim)) + (0,))).reshape(self.layout)
        return xp.ascontiguousarray(a).reshape(self.layout)

    def array(self, rows):
        """The (N, C, ...) view of ``rows``."""
        if self.batch_last:
            return rows.reshape(self.shape[1:] + self.shape[:1]).transpose((len(self.shape) - 1,) +
                                                                         tuple(range(len(self.shape) - 1)))
        return rows.reshape(self.shape)

    def part(self, rows, lo, hi):
        """The rows of channels ``lo:hi``."""
        return rows[lo:hi] if self.batch_last else rows[:, lo:hi]

    def over_channels(self, job):
        """``[job(lo, hi), ...]`` over blocks of channels, on the intra-op threads when the arrays are large."""
        if not self.on_cpu:
            return [job(0, self.shape[1])]
        return parallel.run_blocks(job, self.shape[1], self.count * self.shape[1])

    def column(self, v):
        """A per-channel vector shaped to broadcast against the rows."""
        return v.reshape((-1, 1) if self.batch_last else (1, -1, 1))

    def sums(self, a):
        """Per-channel sums of rows ``a`` (half-precision rows added up in float32, as PyTorch does: a float16 sum
        of 65536 unit values would overflow)."""
        return a.sum(axis=self.axes, dtype=np.float32 if a.dtype == np.float16 else None)

    def dots(self, a, b):
        """Per-channel sums of ``a * b`` for rows ``a`` and ``b``, as one dot product per row (in float32 for
        half-precision rows)."""
        if a.dtype == np.float16 or b.dtype == np.float16:
            a, b = a.astype(np.float32), b.astype(np.float32)
        products = (a[..., None, :] @ b[..., :, None])[..., 0, 0]
        return products if self.batch_last else products.sum(axis=0)


def normalize(x, weight, bias, eps, fixed_stats=None):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` per channel of (N, C, ...) ``x``, by the batch's statistics
    or by ``fixed_stats`` (per-channel mean and var): the view, the output rows, and per-channel mean, var and
    ``1 / sqrt(var + eps)``. Blocks of channels run on the intra-op threads."""
    xp = get_array_module(x)
    view = ChannelRows(x)
    rows = view.rows(x)
    y = xp.empty(rows.shape, xp.result_type(*[a for a in (x, weight) + tuple(fixed_stats or ()) if a is not None]))

    def channels(lo, hi):
        r, out = view.part(rows, lo, hi), view.part(y, lo, hi)
        mean, var = (view.sums(r) / view.count, None) if fixed_stats is None else (s[lo:hi] for s in fixed_stats)
        xp.subtract(r, view.column(mean), out=out)
        var = view.dots(out, out) / view.count if var is None else var
        inv_std = 1 / xp.sqrt(var + eps)
        out *= view.column(inv_std if weight is None else inv_std * weight[lo:hi])
        if bias is not None:
            out += view.column(bias[lo:hi])
        return mean, var, inv_std
    mean, var, inv_std = _joined(xp, view.over_channels(channels))
    return view, y, mean, var, inv_std


def channel_gradients(view, x, weight, gy, mean, inv_std, batch_stats, need_x):
    """The input gradient rows (None unless ``need_x``), and the per-channel sums of ``gy * xhat`` and of ``gy``
    (the weight and bias gradients), from the per-channel ``mean`` and ``inv_std`` of the forward."""
    xp = get_array_module(x)
    rows, g = view.rows(x), view.rows(gy)
    gx = xp.empty(rows.shape, xp.result_type(g, inv_std)) if need_x else None

    def channels(lo, hi):
        gp, m, s = view.part(g, lo, hi), mean[lo:hi], inv_std[lo:hi]
        sum_g = view.sums(gp)
        centred = view.part(gx, lo, hi) if need_x and batch_stats else None
        centred = xp.subtract(view.part(rows, lo, hi), view.column(m), out=centred)
        sum_gxhat = view.dots(gp, centred) * s
        if need_x:
            scale = s if weight is None else s * weight[lo:hi]
            if batch_stats:
                # w * inv_std * (gy - mean(gy) - xhat * mean(gy * xhat)), written over the centred rows
                centred *= view.column(s * sum_gxhat / view.count)
                centred += view.column(sum_g / view.count)
                xp.subtract(gp, centred, out=centred)
                centred *= view.column(scale)
            else:
                xp.multiply(gp, view.column(scale), out=view.part(gx, lo, hi))
        return sum_gxhat, sum_g
    sum_gxhat, sum_g = _joined(xp, view.over_channels(channels))
    return gx, sum_gxhat, sum_g


def _joined(xp, parts):
    """Per-channel vectors from the blocks of channels: one concatenation per returned vector."""
    if len(parts) == 1:
        return parts[0]
    return tuple(xp.concatenate(vectors) for vectors in zip(*parts))
