"""Activation functions beyond the tensor's own (``relu``, ``tanh``, ``sigmoid``)."""
import math

import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module, is_cupy_array
from ...ops import elementwise as E
from ._erf import erf32
from ._grad_paths import KeepsIntermediates, namespace_of, recording
from ...ops.elementwise import sigmoid, tanh

__all__ = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu"]


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.slope = slope
        ctx.save_for_backward(x)
        xp = get_array_module(x)
        if slope == 0:  # 0 * inf is NaN: only the where keeps x = inf
            return xp.where(x > 0, x, x * slope)
        # x or slope * x, whichever is larger (smaller for a slope above 1): the same values as a where, without
        # its branch per element (NumPy's where on random signs: 340 us for (128, 512), this 19 us)
        return xp.maximum(x, x * slope) if slope <= 1 else xp.minimum(x, x * slope)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
        if xp is np and 0 <= ctx.slope <= 1 and gy.shape == x.shape:
            factor = np.maximum(x > 0, ctx.slope, dtype=gy.dtype)  # exactly 1 or the slope
            return np.multiply(gy, factor, out=factor), None
        return xp.where(x > 0, gy, gy * ctx.slope), None


class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        xp = get_array_module(x)
        y = xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))
        ctx.alpha = alpha
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        return namespace_of(gy, x, y).where(x > 0, gy, gy * (y + ctx.alpha)), None


def _erf(x):
    """The error function on NumPy or CuPy arrays: ``erf32`` for float32 NumPy arrays (within a few units in the
    last place), else SciPy's where available, exact either way."""
    if is_cupy_array(x):
        from cupyx.scipy.special import erf
        return erf(x)
    if x.dtype == np.float32:
        return erf32(x)
    try:
        from scipy.special import erf
    except ImportError:
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x)


class NormalCdf(Function):
    """The standard normal distribution function ``Phi(x)``, whose derivative is the density."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (1 + _erf(x * (1 / math.sqrt(2))))

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * _normal_pdf(namespace_of(gy, x), x)


def _normal_pdf(xp, x):
    return xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


class Gelu(KeepsIntermediates):
    @staticmethod
    def forward(ctx, x, approximate):
        xp = get_array_module(x)
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate == "tanh":
            t = xp.tanh(_gelu_inner(x))
            ctx.keep(t)
            return 0.5 * x * (1 + t)
        cdf = 0.5 * (1 + _erf(x * (1 / math.sqrt(2))))
        ctx.keep(cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
        # the kept tanh or cdf is an intermediate: a recorded gradient recomputes it from x
        if ctx.approximate == "tanh":
            t = xp.tanh(_gelu_inner(x)) if recording(xp) else ctx.intermediates[0]
            d_inner = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner), None
        cdf = NormalCdf.apply(x) if recording(xp) else ctx.intermediates[0]
        return gy * (cdf + x * _normal_pdf(xp, x)), None


def _gelu_inner(x):
    return math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)


def _maybe_inplace(x, inplace, name, fn):
    """``fn(x)``, or with ``inplace`` written into ``x`` as PyTorch's ``inplace=True`` (recorded, version-counted)."""
    return x._update(name + "_", fn) if inplace else fn(x)


def relu(x, inplace=False):
    """``max(x, 0)``; ``inplace=True`` overwrites ``x`` (as PyTorch's)."""
    return _maybe_inplace(x, inplace, "relu", E.relu)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return _maybe_inplace(x, inplace, "leaky_relu", lambda t: LeakyRelu.apply(t, negative_slope))


def elu(x, alpha=1.0, inplace=False):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    return _maybe_inplace(x, inplace, "elu", lambda t: Elu.apply(t, alpha))


def gelu(x, approximate="none"):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` for the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(x, approximate)
