"""``conv1d`` and ``conv2d``: products of the weights with the window matrix of a batch-last padded input.

The window matrix and its products are in ``_conv_blocks``; this module arranges the arrays around them:
the input padded and stored batch-last (C, Hp, Wp, N). The output is returned as an (N, O, Ho, Wo) view of
the (O, Ho, Wo, N) product, and the input gradient likewise, so a network of convolutions, batch norms,
ReLUs and pools keeps its activations and gradients batch-last and never pays a transposing copy between
layers; an output gradient in another layout is copied into that order once.
"""
import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from ._grad_paths import KeepsIntermediates, namespace_of, recording, run
from .linear import check_dtypes
from ._conv_blocks import (Geometry, batch_last_padded, copy_in_pieces, forward_product, input_gradient,
                           transposed_product, transposes_as_convolution, weight_gradient)
from ...amp.autocast_mode import lower_precision


class Conv2dFunction(KeepsIntermediates):
    """2-d cross-correlation of (N, C, H, W) with (O, C/groups, kh, kw), plus bias; 3-d inputs are 1-d convs.

    Its gradients are two more Functions, each bilinear like the convolution itself: the input gradient
    (``ConvInputGradient``, a transposed convolution) and the weight gradient (``ConvWeightGradient``, a
    correlation of the input with the output gradient). The three are each other's derivatives, so a recorded
    gradient (``create_graph``) can be differentiated again, to any order.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp = get_array_module(x)
        ctx.x_shape, ctx.w_shape, ctx.settings = x.shape, weight.shape, (stride, padding, dilation, groups)
        x4, weight4 = _planar(x), _planar(weight)
        g = Geometry(x4.shape, weight4.shape, stride, padding, dilation, groups, bias is not None)
        padded = _padded(xp, x4, g)
        wx = weight4.reshape(groups, g.og, g.patch)
        if bias is not None:
            wx = xp.concatenate([wx, bias.reshape(groups, g.og, 1)], axis=2)
        y = forward_product(xp, padded, wx.astype(xp.result_type(x4, weight4), copy=False), g)
        out = _batch_first(y, (g.o, g.ho, g.wo, g.n))
        ctx.geometry = g
        # the padded input, not the window matrix (kh*kw times larger), is kept for backward
        ctx.save_for_backward(x, weight)
        ctx.keep(padded)
        return out.reshape(g.n, g.o, g.wo) if x.ndim == 3 else out

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xp, g = namespace_of(gy), ctx.geometry
        if recording(xp):
            return (ConvInputGradient.apply(gy, weight, ctx.x_shape, *ctx.settings) if need_x else None,
                    ConvWeightGradient.apply(x, gy, ctx.w_shape, *ctx.settings) if need_w else None,
                    gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if need_b else None, None, None, None, None)
        gyq = _columns(xp, gy, g)
        gx = gw = gb = None
        if need_w or need_b:
            gwb = weight_gradient(xp, ctx.intermediates[0], gyq, g)
            gw = xp.ascontiguousarray(gwb[:, :g.patch].swapaxes(1, 2)).reshape(ctx.w_shape)
            gb = gwb[:, g.patch].reshape(g.o) if need_b else None
        if need_x:
            gx = _input_array(xp, gy, gyq, _planar(weight), g).reshape(ctx.x_shape)
        return gx, gw if need_w else None, gb, None, None, None, None


class ConvInputGradient(Function):
    """The input gradient of a convolution, ``gx = A(gy, weight)``, linear in each of its two arguments.

    Its derivatives are those of the adjoint: ``<ggx, A(gy, w)> = <conv(ggx, w), gy>``, so the gradient to
    ``gy`` is the convolution of ``ggx`` and the gradient to ``w`` the weight gradient of ``(ggx, gy)``.
    """

    @staticmethod
    def forward(ctx, gy, weight, x_shape, stride, padding, dilation, groups):
        xp = get_array_module(gy)
        ctx.x_shape, ctx.settings = x_shape, (stride, padding, dilation, groups)
        ctx.save_for_backward(gy, weight)
        g = Geometry(_planar_shape(x_shape), _planar(weight).shape, stride, padding, dilation, groups, False)
        return _input_array(xp, gy, _columns(xp, gy, g), _planar(weight), g).reshape(x_shape)

    @staticmethod
    def backward(ctx, ggx):
        gy, weight = ctx.saved_tensors
        xp = namespace_of(ggx, gy, weight)
        need_gy, need_w = ctx.needs_input_grad[:2]
        ggy = run(Conv2dFunction, xp, ggx, weight, None, *ctx.settings) if need_gy else None
        gw = run(ConvWeightGradient, xp, ggx, gy, weight.shape, *ctx.settings) if need_w else None
        return ggy, gw, None, None, None, None, None


class ConvWeightGradient(Function):
    """The weight gradient of a convolution, ``gw = B(x, gy)``, linear in each of its two arguments.

    ``<ggw, B(x, gy)> = <conv(x, ggw), gy>``: the gradient to ``gy`` is the convolution of ``x`` with ``ggw``,
    the gradient to ``x`` the input gradient of ``(gy, ggw)``.
    """

    @staticmethod
    def forward(ctx, x, gy, w_shape, stride, padding, dilation, groups):
        xp = get_array_module(x)
        ctx.w_shape, ctx.settings = w_shape, (stride, padding, dilation, groups)
        ctx.save_for_backward(x, gy)
        x4 = _planar(x)
        g = Geometry(x4.shape, _planar_shape(w_shape), stride, padding, dilation, groups, False)
        gw = weight_gradient(xp, _padded(xp, x4, g), _columns(xp, gy, g), g)
        return xp.ascontiguousarray(gw.swapaxes(1, 2)).reshape(w_shape)

    @staticmethod
    def backward(ctx, ggw):
        x, gy = ctx.saved_tensors
        xp = namespace_of(ggw, x, gy)
        need_x, need_gy = ctx.needs_input_grad[:2]
        gx = run(ConvInputGradient, xp, gy, ggw, x.shape, *ctx.settings) if need_x else None
        ggy = run(Conv2dFunction, xp, x, ggw, None, *ctx.settings) if need_gy else None
        return gx, ggy, None, None, None, None, None


def _planar_shape(shape):
    """A 1-d convolution's (N, C, L) shape as the 2-d (N, C, 1, L)."""
    return tuple(shape) if len(shape) == 4 else tuple(shape[:2]) + (1,) + tuple(shape[2:])


def _planar(a):
    return a[:, :, None] if a.ndim == 3 else a


def _padded(xp, x4, g):
    """The input padded and stored batch-last, (C, Hp, Wp, N)."""
    return batch_last_padded(xp, x4, g.top, g.hp - g.h - g.top, g.left, g.wp - g.w - g.left)


def _batch_first(a, shape):
    """The (N, C, H, W) view of a contiguous batch-last array of (C, H, W, N) ``shape``: no copy."""
    return a.reshape(shape).transpose(3, 0, 1, 2)


def _columns(xp, gy, g):
    """The output gradient in the column order of the window matrix: (groups, O/groups, Ho*Wo*N)."""
    batch_last = gy.reshape(g.n, g.o, g.ho, g.wo).transpose(1, 2, 3, 0)
    if not batch_last.flags.c_contiguous:
        gyq = xp.empty(batch_last.shape, gy.dtype)
        copy_in_pieces(xp, gyq, batch_last)
        batch_last = gyq
    return batch_last.reshape(g.groups, g.og, g.positions)


def _input_array(xp, gy, gyq, weight4, g):
    """The (N, C, H, W) input gradient (a view of a batch-last array) from the output gradient."""
    if transposes_as_convolution(g):
        return _batch_first(transposed_product(xp, gy.reshape(g.n, g.o, g.ho, g.wo), weight4, g),
                            (g.c, g.h, g.w, g.n))
    gpad = input_gradient(xp, gyq, weight4, g)
    return _batch_first(xp.ascontiguousarray(g.inside(gpad)), (g.c, g.h, g.w, g.n))


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
