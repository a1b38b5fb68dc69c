"""Batch norm on arrays in few passes: per-channel sums over the channel's contiguous rows of memory.

A batch-last input (what ``conv2d`` returns: (N, C, H, W) viewed from (C, H, W, N) memory) is one contiguous
row per channel, (C, H*W*N); a C-contiguous one is N rows per channel, (N, C, H*W). Sums and dot products run
along those rows, and the output is written over the centred rows; the backward needs only ``x``, the mean and
``1 / std`` (the normalized input is not kept).
"""
from ...backend import get_array_module


class ChannelRows:
    """A view of an (N, C, ...) array as rows per channel, and the way back to the (N, C, ...) shape."""

    def __init__(self, x):
        n, c = x.shape[:2]
        self.shape, self.count = x.shape, x.size // max(c, 1)
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

    def column(self, v):
        """A per-channel vector shaped to broadcast against the rows."""
        return v.reshape((-1, 1) if self.batch_last else (1, -1, 1))

    def sums(self, a):
        """Per-channel sums of rows ``a``."""
        return a.sum(axis=self.axes)

    def dots(self, a, b):
        """Per-channel sums of ``a * b`` for rows ``a`` and ``b``, as one dot product per row."""
        products = (a[..., None, :] @ b[..., :, None])[..., 0, 0]
        return products if self.batch_last else products.sum(axis=0)


def channel_moments(x):
    """The per-channel mean and biased variance of (N, C, ...) ``x``, and the centred rows (a fresh array)."""
    view = ChannelRows(x)
    rows = view.rows(x)
    mean = view.sums(rows) / view.count
    centred = rows - view.column(mean)
    return view, mean, view.dots(centred, centred) / view.count, centred


def channel_gradients(view, x, weight, gy, mean, inv_std, batch_stats, need_x):
    """The input gradient (None unless ``need_x``), and the per-channel sums of ``gy * xhat`` and of ``gy``
    (the weight and bias gradients), from the per-channel ``mean`` and ``inv_std`` of the forward."""
    g = view.rows(gy)
    sum_g = view.sums(g)
    centred = view.rows(x) - view.column(mean)
    sum_gxhat = view.dots(g, centred) * inv_std
    if not need_x:
        return None, sum_gxhat, sum_g
    scale = inv_std if weight is None else inv_std * weight
    if not batch_stats:
        return view.array(g * view.column(scale)), sum_gxhat, sum_g
    # w * inv_std * (gy - mean(gy) - xhat * mean(gy * xhat)), written over the centred rows
    gx = centred
    gx *= view.column(inv_std * sum_gxhat / view.count)
    gx += view.column(sum_g / view.count)
    get_array_module(gx).subtract(g, gx, out=gx)
    gx *= view.column(scale)
    return view.array(gx), sum_gxhat, sum_g
