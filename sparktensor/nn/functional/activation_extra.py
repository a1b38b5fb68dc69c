"""``silu``, ``mish``, ``hardswish`` and ``prelu``, each with its backward written out (or built from ops)."""
from ...autograd.function import Function
from ...backend import get_array_module
from ...ops.elementwise import where
from ._grad_paths import KeepsIntermediates, namespace_of, recording

__all__ = ["silu", "mish", "hardswish", "prelu"]


def _sigmoid(xp, x):
    # exp of a non-positive number only, so no overflow warning for large |x|
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Silu(KeepsIntermediates):
    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(get_array_module(x), x)
        ctx.save_for_backward(x)
        ctx.keep(s)
        return x * s

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
        # the sigmoid is an intermediate: a recorded gradient recomputes it from x
        s = _sigmoid(xp, x) if recording(xp) else ctx.intermediates[0]
        return gy * (s * (1 + x * (1 - s)))


class Mish(KeepsIntermediates):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        t = xp.tanh(xp.logaddexp(0, x))  # tanh(softplus(x))
        ctx.save_for_backward(x)
        ctx.keep(t)
        return x * t

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
        t = ctx.intermediates[0] if not recording(xp) else \
            xp.tanh(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))  # softplus as max(x, 0) + log1p(exp(-|x|))
        # d softplus / dx = sigmoid(x); d tanh = 1 - tanh**2
        return gy * (t + x * (1 - t * t) * _sigmoid(xp, x))


class Hardswish(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * get_array_module(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
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
