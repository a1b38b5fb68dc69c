"""``conv1d`` and ``conv2d``: products of the weights with the window matrix of a batch-last padded input.

The window matrix and its products are in ``_conv_blocks``; this module arranges the arrays around them:
the input padded and stored batch-last (C, Hp, Wp, N), the output and its gradient moved between
(N, O, Ho, Wo) and the (O, Ho, Wo, N) order of the window-matrix columns.
"""
import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from .linear import check_dtypes
from ._conv_blocks import Geometry, copy_in_pieces, forward_product, input_gradient, weight_gradient
from ...amp.autocast_mode import lower_precision


class Conv2dFunction(Function):
    """2-d cross-correlation of (N, C, H, W) with (O, C/groups, kh, kw), plus bias; 3-d inputs are 1-d convs."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp = get_array_module(x)
        ctx.x_shape, ctx.w_shape = x.shape, weight.shape
        if x.ndim == 3:  # conv1d: a height of one
            x, weight = x[:, :, None], weight[:, :, None]
        g = Geometry(x.shape, weight.shape, stride, padding, dilation, groups, bias is not None)
        padded = xp.zeros((g.c, g.hp, g.wp, g.n), x.dtype)
        g.inside(padded)[...] = x.transpose(1, 2, 3, 0)
        wx = weight.reshape(groups, g.og, g.patch)
        if bias is not None:
            wx = xp.concatenate([wx, bias.reshape(groups, g.og, 1)], axis=2)
        y = forward_product(xp, padded, wx.astype(xp.result_type(x, weight), copy=False), g)
        out = xp.empty((g.n, g.o, g.ho, g.wo), y.dtype)
        copy_in_pieces(xp, out.transpose(1, 2, 3, 0), y.reshape(g.o, g.ho, g.wo, g.n))
        ctx.geometry = g
        # the padded input, not the window matrix (kh*kw times larger), is kept for backward
        ctx.save_for_backward(padded, weight)
        return out.reshape(g.n, g.o, g.wo) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, gy):
        padded, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xp, g = get_array_module(gy), ctx.geometry
        # the output gradient in the column order of the window matrix: (groups, O/groups, Ho*Wo*N)
        gyq = xp.empty((g.o, g.ho, g.wo, g.n), gy.dtype)
        gyq[...] = gy.reshape(g.n, g.o, g.ho, g.wo).transpose(1, 2, 3, 0)
        gyq = gyq.reshape(g.groups, g.og, g.positions)
        gx = gw = gb = None
        if need_w or need_b:
            gwb = weight_gradient(xp, padded, gyq, g)
            gw = xp.ascontiguousarray(gwb[:, :g.patch].swapaxes(1, 2)).reshape(ctx.w_shape)
            gb = gwb[:, g.patch].reshape(g.o) if need_b else None
        if need_x:
            gpad = input_gradient(xp, gyq, weight, g)
            gx = xp.empty((g.n, g.c, g.h, g.w), gy.dtype)
            copy_in_pieces(xp, gx.transpose(1, 2, 3, 0), g.inside(gpad))
            gx = gx.reshape(ctx.x_shape)
        return gx, gw if need_w else None, gb, None, None, None, None


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
    check_dtypes(op, x, weight=weight, bias=bias)
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


@lower_precision
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation) of (N, C_in, H, W) with weight (C_out, C_in/groups, kh, kw), as PyTorch's."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, "conv2d", 2)


@lower_precision
def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution (cross-correlation) of (N, C_in, L) with weight (C_out, C_in/groups, k), as PyTorch's."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, "conv1d", 1)
