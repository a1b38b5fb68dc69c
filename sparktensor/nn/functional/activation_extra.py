"""``silu``, ``mish``, ``hardswish`` and ``prelu``, each with its backward written out (or built from ops)."""
from ...autograd.function import Function
from ...backend import get_array_module
from ...ops.elementwise import where

__all__ = ["silu", "mish", "hardswish", "prelu"]


def _sigmoid(xp, x):
    # exp of a non-positive number only, so no overflow warning for large |x|
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(get_array_module(x), x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, gy):
        x, s = ctx.saved_tensors
        return gy * (s * (1 + x * (1 - s)))


class Mish(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        t = xp.tanh(xp.logaddexp(0, x))  # tanh(softplus(x))
        ctx.save_for_backward(x, t)
        return x * t

    @staticmethod
    def backward(ctx, gy):
        x, t = ctx.saved_tensors
        # d softplus / dx = sigmoid(x); d tanh = 1 - tanh**2
        return gy * (t + x * (1 - t * t) * _sigmoid(get_array_module(x), x))


class Hardswish(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * get_array_module(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = get_array_module(x)
        # at the kinks PyTorch takes the outer pieces: 0 at -3, 1 at 3
        return xp.where(x <= -3, 0, xp.where(x < 3, gy * (x / 3 + 0.5), gy))


def silu(x):
    """``x * sigmoid(x)`` (swish)."""
    return Silu.apply(x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return Mish.apply(x)


def hardswish(x):
    """``x * relu6(x + 3) / 6``."""
    return Hardswish.apply(x)


def prelu(x, weight):
    """``x`` where positive, ``weight * x`` elsewhere; ``weight`` has one entry or one per channel (axis 1)."""
    if weight.ndim != 1 or (weight.shape[0] != 1 and (x.ndim < 2 or x.shape[1] != weight.shape[0])):
        raise ValueError(f"prelu: weight of shape {tuple(weight.shape)} needs one entry, or one per channel of "
                         f"the input (axis 1), whose shape is {tuple(x.shape)}")
    if x.ndim >= 2:
        weight = weight.reshape((-1,) + (1,) * (x.ndim - 2))
    return where(x > 0, x, weight * x)
