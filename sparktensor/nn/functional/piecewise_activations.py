"""Piecewise-linear activations of PyTorch's: ``hardtanh``, ``relu6``, ``hardsigmoid``, ``hardshrink``,
``softshrink`` and ``threshold``. Where a piece ends the gradient is PyTorch's: 0 at the clamps of ``hardtanh``
(so of ``relu6`` and ``hardsigmoid``), 1 only strictly inside a pass-through piece."""
from ...autograd.function import Function
from ...backend import get_array_module
from ...ops import elementwise as E
from .activation import _maybe_inplace
from ._grad_paths import namespace_of

__all__ = ["hardtanh", "relu6", "hardsigmoid", "hardshrink", "softshrink", "threshold"]


class Hardtanh(Function):
    @staticmethod
    def forward(ctx, x, low, high):
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return get_array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        inside = (x > ctx.low) & (x < ctx.high)
        return namespace_of(gy, x).where(inside, gy, 0), None, None


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """``x`` clamped to ``[min_val, max_val]``; the gradient is 1 strictly inside."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    return _maybe_inplace(x, inplace, "hardtanh", lambda t: Hardtanh.apply(t, min_val, max_val))


def relu6(x, inplace=False):
    """``min(max(x, 0), 6)``."""
    return hardtanh(x, 0.0, 6.0, inplace)


def hardsigmoid(x, inplace=False):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _maybe_inplace(x, inplace, "hardsigmoid", lambda t: E.div(Hardtanh.apply(E.add(t, 3.0), 0.0, 6.0), 6.0))


def hardshrink(x, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return E.where(E.greater(E.abs(x), lambd), x, 0.0)


def softshrink(x, lambd=0.5):
    """``x`` moved ``lambd`` toward 0, and 0 within ``[-lambd, lambd]``."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be at least 0, got {lambd}")
    return E.where(E.greater(x, lambd), E.sub(x, lambd), E.where(E.less(x, -lambd), E.add(x, lambd), 0.0))


def threshold(x, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``."""
    return _maybe_inplace(x, inplace, "threshold", lambda t: E.where(E.greater(t, threshold), t, value))
