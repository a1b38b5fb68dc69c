"""The window matrix of ``conv2d`` and its three products, built and multiplied in cache-sized blocks.

The padded input is stored batch-last, (C, Hp, Wp, N): the windows of one kernel offset along one output
row are then a contiguous run of Wo*N elements (N for horizontal strides above 1), so building the window
matrix copies long runs. The window matrix has one row per (input channel, kernel offset), then a row of
ones when there is a bias (the bias is one more weight column, its gradient one more row of the weight
gradient), and one column per (output row, output column, image).

On the CPU the products are cut into blocks of about ``BLOCK_MACS`` multiply-adds. A block of a few output
rows of the window matrix is built and multiplied while it is still in cache, so the whole
(C*kh*kw, Ho*Wo*N) matrix is never written out; and BLAS runs such small, thin products several times
faster than one tall product over the whole batch (OpenBLAS switches to its small-matrix kernels below
about a million multiply-adds).
"""
import numpy as np

from ._conv_threads import over_channels, over_rows

#: multiply-adds per block product on the CPU
BLOCK_MACS = 1_000_000
#: elements per piece of a large transposing copy on the CPU
COPY_PIECE = 65_536
#: input channels per group from which the input gradient is a convolution (fewer make its product too thin)
MIN_TRANSPOSED_CHANNELS = 16


class Geometry:
    """Sizes of one 2-d convolution over a padded input stored as (C, Hp, Wp, N), and views into its arrays."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups, bias):
        (self.n, self.c, self.h, self.w), (self.o, self.cg, self.kh, self.kw) = x_shape, w_shape
        self.stride, self.dilation, self.groups = stride, dilation, groups
        (sh, sw), (dh, dw), ((self.top, bottom), (self.left, right)) = stride, dilation, padding
        self.hp, self.wp = self.h + self.top + bottom, self.w + self.left + right
        self.ho = (self.hp - dh * (self.kh - 1) - 1) // sh + 1
        self.wo = (self.wp - dw * (self.kw - 1) - 1) // sw + 1
        self.og = self.o // groups
        self.patch = self.cg * self.kh * self.kw    # window-matrix rows per group, from the input
        self.depth = self.patch + bool(bias)        # and with the row of ones
        self.run = self.wo * self.n                 # window-matrix columns per output row
        self.positions = self.ho * self.run

    def windows(self, xp, padded):
        """The (groups, C/groups, kh, kw, Ho, Wo, N) view of every window of a contiguous (C, Hp, Wp, N) array."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        row = self.wp * self.n
        shape = (self.groups, self.cg, self.kh, self.kw, self.ho, self.wo, self.n)
        strides = (self.cg * self.hp * row, self.hp * row, dh * row, dw * self.n, sh * row, sw * self.n, 1)
        return xp.lib.stride_tricks.as_strided(padded, shape, tuple(s * padded.itemsize for s in strides))

    def inside(self, padded):
        """The (C, H, W, N) part of a padded array that is not padding."""
        return padded[:, self.top:self.top + self.h, self.left:self.left + self.w]

    def block_rows(self, xp):
        """Output rows per block: about ``BLOCK_MACS`` multiply-adds per product on the CPU, all rows elsewhere."""
        if xp is not np:
            return self.ho
        return max(1, min(self.ho, BLOCK_MACS // max(1, self.og * self.depth * self.run)))


def _window_blocks(xp, padded, g, first=0, last=None):
    """Yield ``(start, stop, block)``: the (groups, depth, (stop-start)*Wo*N) window matrix of output rows start:stop,
    for blocks of the rows ``first:last`` (default all).

    The blocks share one buffer, each overwriting the one before.
    """
    last = g.ho if last is None else last
    rows = min(g.block_rows(xp), max(1, last - first))
    buffer = xp.empty((g.groups, g.depth, rows, g.wo, g.n), padded.dtype)
    if g.depth > g.patch:
        buffer[:, g.patch] = 1
    windows = g.windows(xp, padded)
    for start in range(first, last, rows):
        stop = min(start + rows, last)
        target = buffer[:, :g.patch, :stop - start]
        target.reshape(windows.shape[:4] + target.shape[2:])[...] = windows[:, :, :, :, start:stop]
        yield start, stop, buffer.reshape(g.groups, g.depth, -1)[:, :, :(stop - start) * g.run]


def forward_product(xp, padded, wx, g):
    """``wx @ windows``: (groups, O/groups, Ho*Wo*N) from the weights with the bias as a last column."""
    y = xp.empty((g.groups, g.og, g.positions), xp.result_type(padded, wx))

    def rows(first, last):
        for start, stop, block in _window_blocks(xp, padded, g, first, last):
            xp.matmul(wx, block, out=y[:, :, start * g.run:stop * g.run])
    over_rows(xp, g, rows)
    return y


def weight_gradient(xp, padded, gyq, g):
    """``windows @ gyq.T``: (groups, depth, O/groups); the row past the weights is the bias gradient."""
    def rows(first, last):
        gw = xp.zeros((g.groups, g.depth, g.og), gyq.dtype)
        part = xp.empty_like(gw)
        for start, stop, block in _window_blocks(xp, padded, g, first, last):
            xp.matmul(block, gyq[:, :, start * g.run:stop * g.run].swapaxes(-1, -2), out=part)
            gw += part
        return gw
    parts = over_rows(xp, g, rows)
    return parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])


def input_gradient(xp, gyq, weight, g):
    """The gradient of the padded input, (C, Hp, Wp, N): each window's ``weight.T @ gyq`` added back where it was read.

    Blocks of channels (of every group) run on the intra-op threads. One kernel column at a time: its (C*kh, Ho*Wo*N) window gradients are summed over the kernel rows into a
    buffer one output wide, where the kernel rows' targets are whole contiguous runs, and that buffer is then
    added to the columns of the padded gradient that the kernel column reads. NumPy adds into views with many
    short rows far more slowly than into long runs, and the products of one kernel column stay in cache.
    """
    (sh, sw), (dh, dw) = g.stride, g.dilation
    # (kw, groups, C/groups, kh, O/groups): the transposed weights of each kernel column
    wt = weight.reshape(g.groups, g.og, g.cg, g.kh, g.kw).transpose(4, 0, 2, 3, 1).reshape(g.kw, g.groups, g.cg,
                                                                                          g.kh, g.og)
    gpad = xp.zeros((g.groups, g.cg, g.hp, g.wp, g.n), gyq.dtype)

    def channels(lo, hi):
        gcols = xp.empty((g.groups, (hi - lo) * g.kh, g.positions), gyq.dtype)
        kernel_rows = gcols.reshape(g.groups, hi - lo, g.kh, g.ho, g.wo, g.n)
        column = xp.empty((g.groups, hi - lo, g.hp, g.wo, g.n), gyq.dtype)
        for j in range(g.kw):
            _blocked_matmul(xp, wt[j, :, lo:hi].reshape(g.groups, -1, g.og), gyq, gcols)
            column[...] = 0
            for i in range(g.kh):
                target = column[:, :, i * dh:i * dh + sh * (g.ho - 1) + 1:sh]
                xp.add(target, kernel_rows[:, :, i], out=target)
            target = gpad[:, lo:hi, :, j * dw:j * dw + sw * (g.wo - 1) + 1:sw]
            xp.add(target, column, out=target)
    over_channels(xp, g, channels)
    return gpad.reshape(g.c, g.hp, g.wp, g.n)


def transposes_as_convolution(g):
    """Whether to compute the input gradient as a convolution with stride 1 (stride 1, no padding wider than the
    dilated kernel, at least ``MIN_TRANSPOSED_CHANNELS`` input channels per group, the rows of its product): of
    the output gradient, padded, with the kernel flipped and its two channel axes swapped."""
    (kh, kw), (dh, dw) = (g.kh, g.kw), g.dilation
    return g.stride == (1, 1) and g.cg >= MIN_TRANSPOSED_CHANNELS and max(g.top, g.hp - g.h - g.top) <= dh * (kh - 1) \
        and max(g.left, g.wp - g.w - g.left) <= dw * (kw - 1)


def transposed_product(xp, gy, weight, g):
    """The (groups, C/groups, H*W*N) batch-last input gradient of a stride-1 convolution: the output gradient
    ``gy`` (N, O, Ho, Wo) convolved with the flipped, transposed kernel, built and multiplied as the forward."""
    (dh, dw), span_h, span_w = g.dilation, g.dilation[0] * (g.kh - 1), g.dilation[1] * (g.kw - 1)
    pads = ((span_h - g.top, span_h - (g.hp - g.h - g.top)), (span_w - g.left, span_w - (g.wp - g.w - g.left)))
    padded = batch_last_padded(xp, gy, pads[0][0], pads[0][1], pads[1][0], pads[1][1])
    flipped = weight.reshape(g.groups, g.og, g.cg, g.kh, g.kw)[..., ::-1, ::-1].swapaxes(1, 2)
    wt = xp.ascontiguousarray(flipped).reshape(g.groups, g.cg, g.og * g.kh * g.kw)
    gt = Geometry(gy.shape, (g.c, g.og, g.kh, g.kw), (1, 1), pads, g.dilation, g.groups, False)
    return forward_product(xp, padded, wt, gt)


def batch_last_padded(xp, x, top, bottom, left, right):
    """(N, C, H, W) ``x`` padded with zeros and stored batch-last, (C, H + top + bottom, W + left + right, N).

    Only the border is zeroed; an ``x`` already batch-last in memory is copied in long contiguous runs.
    """
    n, c, h, w = x.shape
    padded = xp.empty((c, top + h + bottom, left + w + right, n), x.dtype)
    for rows in (slice(0, top), slice(top + h, None)):
        padded[:, rows] = 0
    for cols in (slice(0, left), slice(left + w, None)):
        padded[:, top:top + h, cols] = 0
    copy_in_pieces(xp, padded[:, top:top + h, left:left + w], x.transpose(1, 2, 3, 0))
    return padded


def copy_in_pieces(xp, dst, src):
    """``dst[...] = src`` for arrays of one shape, piece by piece along their first axis longer than one.

    Moving the batch axis between first and last (N, O, Ho, Wo) <-> (O, Ho, Wo, N) is a transposing copy;
    on the CPU a large one runs about twice as fast in pieces of ``COPY_PIECE`` elements, whose scattered
    side spans fewer memory pages.
    """
    axis = next((a for a, n in enumerate(dst.shape) if n > 1), None)
    if xp is not np or axis is None or dst.size <= COPY_PIECE:
        dst[...] = src
        return
    step = max(1, COPY_PIECE * dst.shape[axis] // dst.size)
    for start in range(0, dst.shape[axis], step):
        index = (slice(None),) * axis + (slice(start, start + step),)
        dst[index] = src[index]


def _blocked_matmul(xp, a, b, out):
    """``out[...] = a @ b`` for a (groups, R, K) and b (groups, K, M), cut along M into blocks of ``BLOCK_MACS``."""
    m = b.shape[-1]
    size = max(1, m if xp is not np else min(m, BLOCK_MACS // (a.shape[-2] * a.shape[-1])))
    whole = m // size * size
    if whole:
        # (groups, blocks, rows, size) views: one batched product, each block a small one
        blocks = (whole // size, size)
        xp.matmul(a[:, None], b[..., :whole].reshape(b.shape[:-1] + blocks).swapaxes(1, 2),
                  out=out[..., :whole].reshape(out.shape[:-1] + blocks).swapaxes(1, 2))
    if whole < m:
        xp.matmul(a, b[..., whole:], out=out[..., whole:])
