"""``conv1d`` and ``conv2d``: im2col over a strided window view, one matrix product per layer.

The padded input is stored batch-last, (C, Hp, Wp, N). The windows are then one
strided view (C, kh, kw, Ho, Wo, N) whose innermost (Wo, N) block is a contiguous
run of Wo*N elements (N elements for horizontal strides above 1), so the im2col
copy and the col2im adds of the backward move long runs instead of one short
piece per image and row. The forward is one matrix product of the weights with
the (C*kh*kw, Ho*Wo*N) window matrix (batched over groups), and so are the weight
and input gradients.
"""
import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module


class _Geometry:
    """Sizes of one 2-d convolution over a padded input stored as (C, Hp, Wp, N)."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups):
        (self.n, self.c, self.h, self.w), (self.o, _, self.kh, self.kw) = x_shape, w_shape
        (sh, sw), (dh, dw), ((self.top, bottom), (self.left, right)) = stride, dilation, padding
        self.groups = groups
        self.hp, self.wp = self.h + self.top + bottom, self.w + self.left + right
        self.ho = (self.hp - dh * (self.kh - 1) - 1) // sh + 1
        self.wo = (self.wp - dw * (self.kw - 1) - 1) // sw + 1
        row = self.wp * self.n
        # element strides of the window view (C, kh, kw, Ho, Wo, N)
        self.strides = (self.hp * row, dh * row, dw * self.n, sh * row, sw * self.n, 1)

    def windows(self, xp, padded):
        """The (C, kh, kw, Ho, Wo, N) view of every window of a contiguous (C, Hp, Wp, N) array."""
        shape = (self.c, self.kh, self.kw, self.ho, self.wo, self.n)
        return xp.lib.stride_tricks.as_strided(padded, shape, tuple(s * padded.itemsize for s in self.strides))

    def inside(self, padded):
        """The (C, H, W, N) part of a padded array that is not padding."""
        return padded[:, self.top:self.top + self.h, self.left:self.left + self.w]


def _t(a):
    """The last two axes swapped (a view).

    The forward and weight-gradient products are written so that the long Ho*Wo*N axis is the row
    axis of the result: BLAS runs these long, thin products up to twice as fast that way round.
    """
    return a.swapaxes(-1, -2)


def _im2col(xp, padded, g):
    """The (groups, C/groups*kh*kw, Ho*Wo*N) matrix of windows."""
    return xp.ascontiguousarray(g.windows(xp, padded)).reshape(g.groups, -1, g.ho * g.wo * g.n)


def _col2im(xp, gcols, g):
    """Add each window's gradient back where it was read from (the adjoint of ``_im2col``); returns (N, C, H, W)."""
    gpad = xp.zeros((g.c, g.hp, g.wp, g.n), gcols.dtype)
    target = g.windows(xp, gpad)
    gcols = gcols.reshape(target.shape)
    # one add per kernel offset: within an offset the windows never share an element
    for i in range(g.kh):
        for j in range(g.kw):
            target[:, i, j] += gcols[:, i, j]
    gx = xp.empty((g.n, g.c, g.h, g.w), gcols.dtype)
    gx.transpose(1, 2, 3, 0)[...] = g.inside(gpad)
    return gx


class Conv2dFunction(Function):
    """2-d cross-correlation of (N, C, H, W) with (O, C/groups, kh, kw), plus bias; 3-d inputs are 1-d convs."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp = get_array_module(x)
        ctx.x_shape, ctx.w_shape = x.shape, weight.shape
        if x.ndim == 3:  # conv1d: a height of one
            x, weight = x[:, :, None], weight[:, :, None]
        g = _Geometry(x.shape, weight.shape, stride, padding, dilation, groups)
        padded = xp.zeros((g.c, g.hp, g.wp, g.n), x.dtype)
        g.inside(padded)[...] = x.transpose(1, 2, 3, 0)
        w3 = weight.reshape(groups, g.o // groups, -1)
        y = _t(_im2col(xp, padded, g)) @ _t(w3)    # (groups, Ho*Wo*N, O/groups)
        out = xp.empty((g.n, g.o, g.ho, g.wo), y.dtype)
        out.reshape(g.n, groups, -1, g.ho, g.wo).transpose(1, 3, 4, 0, 2)[...] = y.reshape(
            groups, g.ho, g.wo, g.n, -1)
        if bias is not None:
            out += bias.reshape(g.o, 1, 1)
        ctx.geometry = g
        # the padded input, not the im2col matrix (kh*kw times larger), is kept for backward
        ctx.save_for_backward(padded, w3)
        return out.reshape(g.n, g.o, g.wo) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, gy):
        padded, w3 = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xp, g = get_array_module(gy), ctx.geometry
        # the output gradient in the column order of the window matrix: (groups, O/groups, Ho*Wo*N)
        gyq = xp.empty((g.groups, g.o // g.groups, g.ho, g.wo, g.n), gy.dtype)
        gyq[...] = gy.reshape(g.n, g.groups, -1, g.ho, g.wo).transpose(1, 2, 3, 4, 0)
        gyq = gyq.reshape(g.groups, g.o // g.groups, -1)
        gx = gw = gb = None
        if need_w:
            gw = xp.ascontiguousarray(_t(_im2col(xp, padded, g) @ _t(gyq))).reshape(ctx.w_shape)
        if need_b:
            gb = gyq.sum(axis=2).reshape(g.o)
        if need_x:
            # this product the other way round: col2im then reads each kernel offset's rows contiguously
            gx = _col2im(xp, _t(w3) @ gyq, g).reshape(ctx.x_shape)
        return gx, gw, gb, None, None, None, None


def _pair(v, name, n=2):
    """A tuple of ``n`` ints from an int or a sequence of ``n`` ints."""
    v = (v,) * n if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return v


def _padding(padding, kernel, stride, dilation, op):
    """``(before, after)`` per spatial axis; "same" puts the odd extra element after, as PyTorch does."""
    if not isinstance(padding, str):
        return [(p, p) for p in _pair(padding, "padding", len(kernel))]
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [(t // 2, t - t // 2) for t in total]


def _conv(x, weight, bias, stride, padding, dilation, groups, op, spatial):
    if x.ndim != spatial + 2 or weight.ndim != spatial + 2:
        dims = "(N, C, H, W)" if spatial == 2 else "(N, C, L)"
        raise ValueError(f"{op}: expected input {dims} and a weight with {spatial + 2} dimensions, got input "
                         f"{tuple(x.shape)} and weight {tuple(weight.shape)}")
    c, o, kernel = x.shape[1], weight.shape[0], tuple(weight.shape[2:])
    if groups < 1 or c % groups or o % groups or weight.shape[1] * groups != c:
        raise ValueError(f"{op}: input {tuple(x.shape)} has {c} channels; weight {tuple(weight.shape)} with "
                         f"groups={groups} expects {weight.shape[1] * groups} (in and out channels both divisible "
                         f"by groups)")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match {o} output channels")
    stride, dilation = _pair(stride, "stride", spatial), _pair(dilation, "dilation", spatial)
    pads = _padding(padding, kernel, stride, dilation, op)
    if min(stride + dilation) < 1 or min(min(pads)) < 0:
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive and padding {padding} "
                         f"non-negative")
    for n, (a, b), d, k in zip(x.shape[2:], pads, dilation, kernel):
        if n + a + b < d * (k - 1) + 1:
            raise ValueError(f"{op}: input {tuple(x.shape)} padded by {pads} is smaller than the kernel {kernel} "
                             f"with dilation {dilation}")
    if spatial == 1:
        stride, dilation, pads = (1,) + stride, (1,) + dilation, [(0, 0)] + pads
    return Conv2dFunction.apply(x, weight, bias, stride, tuple(pads), dilation, groups)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation) of (N, C_in, H, W) with weight (C_out, C_in/groups, kh, kw), as PyTorch's."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, "conv2d", 2)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution (cross-correlation) of (N, C_in, L) with weight (C_out, C_in/groups, k), as PyTorch's."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, "conv1d", 1)
