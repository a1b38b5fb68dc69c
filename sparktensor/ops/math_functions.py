"""The Array API standard's elementwise functions beyond ``elementwise``'s: inverse and hyperbolic trigonometry,
logarithms in base 2 and 10, rounding, complex parts and the binary functions (``atan2``, ``hypot``, ...).

Each is differentiable where the math is, with backward formulas by the rule in ``_grad_utils`` and PyTorch's
complex convention (``gy * conj(f'(x))``); rounding and ``signbit`` have a zero or no gradient, as PyTorch's.
NumPy's names come too (``arcsin`` for ``asin``), and ``np.arcsin(t)`` gives a tensor that keeps the graph.
"""
import math

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..backend import get_array_module
from ..tensor import Tensor
from . import elementwise as E
from ._grad_utils import as_output, grad_for, meta, namespace_of
from .conversion import Clone
from .elementwise import conj_of, floating, integral


# ----- holomorphic functions of one argument: gradient gy * conj(f'(x)) -----
class _Holomorphic(Function):
    """``y = f(x)`` by the NumPy ufunc ``ufunc``; ``derivative(xp, v)`` is ``f'`` from ``v``, the saved input
    (or the output, when ``from_output``)."""
    ufunc = None
    from_output = False

    @classmethod
    def forward(cls, ctx, x):
        y = as_output(getattr(get_array_module(x), cls.ufunc)(floating(x)))  # an array even when 0-d
        ctx.save_for_backward(y if cls.from_output else x)
        return y

    @classmethod
    def backward(cls, ctx, gy):
        v, = ctx.saved_tensors
        return gy * conj_of(cls.derivative(namespace_of(v), v))


class Asin(_Holomorphic):
    ufunc = "arcsin"

    @staticmethod
    def derivative(xp, x):
        return 1 / xp.sqrt(1 - x * x)


class Acos(_Holomorphic):
    ufunc = "arccos"

    @staticmethod
    def derivative(xp, x):
        return -1 / xp.sqrt(1 - x * x)


class Atan(_Holomorphic):
    ufunc = "arctan"

    @staticmethod
    def derivative(xp, x):
        return 1 / (1 + x * x)


class Asinh(_Holomorphic):
    ufunc = "arcsinh"

    @staticmethod
    def derivative(xp, x):
        return 1 / xp.sqrt(x * x + 1)


class Acosh(_Holomorphic):
    ufunc = "arccosh"

    @staticmethod
    def derivative(xp, x):
        if x.dtype.kind == "c":  # sqrt(x*x - 1) takes the other branch where Re(x) < 0
            return 1 / (xp.sqrt(x - 1) * xp.sqrt(x + 1))
        return 1 / xp.sqrt(x * x - 1)


class Atanh(_Holomorphic):
    ufunc = "arctanh"

    @staticmethod
    def derivative(xp, x):
        return 1 / (1 - x * x)


class Sinh(_Holomorphic):
    ufunc = "sinh"

    @staticmethod
    def derivative(xp, x):
        return xp.cosh(x)


class Cosh(_Holomorphic):
    ufunc = "cosh"

    @staticmethod
    def derivative(xp, x):
        return xp.sinh(x)


class Tan(_Holomorphic):
    ufunc, from_output = "tan", True

    @staticmethod
    def derivative(xp, y):
        return 1 + y * y


class Log2(_Holomorphic):
    ufunc = "log2"

    @staticmethod
    def derivative(xp, x):
        return 1 / (x * math.log(2))


class Log10(_Holomorphic):
    ufunc = "log10"

    @staticmethod
    def derivative(xp, x):
        return 1 / (x * math.log(10))


class Reciprocal(_Holomorphic):
    ufunc, from_output = "reciprocal", True

    @staticmethod
    def derivative(xp, y):
        return -(y * y)


class Square(_Holomorphic):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x  # integers stay integers

    @staticmethod
    def derivative(xp, x):
        return 2 * x


# ----- one argument, not holomorphic or not differentiable -----
class Conj(Function):
    @staticmethod
    def forward(ctx, x):
        return get_array_module(x).conj(x)

    @staticmethod
    def backward(ctx, gy):
        return conj_of(gy)


class Real(Function):
    @staticmethod
    def forward(ctx, x):
        return get_array_module(x).real(x).copy()

    @staticmethod
    def backward(ctx, gy):
        return gy + 0j  # the real gradient, as a complex one with a zero imaginary part


class Imag(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.meta = meta(x)
        return get_array_module(x).imag(x).copy()

    @staticmethod
    def backward(ctx, gy):
        return grad_for(gy * 1j, ctx.meta)  # d imag(x) moves x along i; zero for a real x (the real part)


class Angle(Function):
    @staticmethod
    def forward(ctx, x):
        x = floating(x)
        ctx.meta = meta(x)
        ctx.save_for_backward(x)
        return get_array_module(x).angle(x)

    @staticmethod
    def backward(ctx, gy):
        # i x / |x|**2 (PyTorch's), 0 at x == 0; its real part, 0, for a real x
        x, = ctx.saved_tensors
        xp = namespace_of(x)
        size = xp.abs(x)
        return grad_for(gy * 1j * x / xp.where(size == 0, 1, size * size), ctx.meta)


class _Rounding(Function):
    """Floor, ceil or trunc by the NumPy ufunc ``ufunc``; integers come back as they are; zero gradient."""
    ufunc = None

    @classmethod
    def forward(cls, ctx, x):
        return x.copy() if hasattr(x, "dtype") and integral(x) else getattr(get_array_module(x), cls.ufunc)(x)

    @staticmethod
    def backward(ctx, gy):
        return namespace_of(gy).zeros_like(gy)  # piecewise constant: zero wherever it exists, as PyTorch's


class Floor(_Rounding):
    ufunc = "floor"


class Ceil(_Rounding):
    ufunc = "ceil"


class Trunc(_Rounding):
    ufunc = "trunc"


# ----- two arguments -----
def _floating_pair(x, y):
    """Both operands, as the default float dtype when both hold integers (as PyTorch's ``atan2`` of integers)."""
    if not (integral(x) and integral(y)):
        return x, y
    return tuple(v.astype(dtypes.get_default_dtype()) if hasattr(v, "astype") else float(v) for v in (x, y))


def _zero_gradient(gz, argument_meta, needed):
    """A constant zero gradient for an argument the result does not vary with."""
    if not needed or argument_meta is None:
        return None
    shape, dtype = argument_meta
    return get_array_module(gz).zeros(shape, dtype)


class _FloatingBinary(Function):
    """``z = f(x, y)`` by the NumPy ufunc ``ufunc``, integers taken as floats; saves ``x, y, z`` for backward."""
    ufunc = None

    @classmethod
    def forward(cls, ctx, x, y):
        x, y = _floating_pair(x, y)
        ctx.meta = meta(x), meta(y)
        z = as_output(getattr(get_array_module(x, y), cls.ufunc)(x, y))
        ctx.save_for_backward(x, y, z)
        return z


class Atan2(_FloatingBinary):
    ufunc = "arctan2"

    @staticmethod
    def backward(ctx, gz):
        # (x, -y) / (x**2 + y**2); 0 at the origin, as PyTorch
        y, x, _ = ctx.saved_tensors
        (my, mx), (ny, nx) = ctx.meta, ctx.needs_input_grad
        squared = x * x + y * y
        gz = gz / namespace_of(gz, squared).where(squared == 0, 1, squared)
        return (grad_for(gz * x, my) if ny else None), (grad_for(-gz * y, mx) if nx else None)


class Hypot(_FloatingBinary):
    ufunc = "hypot"

    @staticmethod
    def backward(ctx, gz):
        # (x, y) / z; NaN at the origin, as PyTorch's
        x, y, z = ctx.saved_tensors
        (mx, my), (nx, ny) = ctx.meta, ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            gz = gz / z
            return (grad_for(gz * x, mx) if nx else None), (grad_for(gz * y, my) if ny else None)


class Logaddexp(_FloatingBinary):
    ufunc = "logaddexp"

    @staticmethod
    def backward(ctx, gz):
        # each operand's share of the sum: exp(x - z) and exp(y - z)
        x, y, z = ctx.saved_tensors
        (mx, my), (nx, ny) = ctx.meta, ctx.needs_input_grad
        xp = namespace_of(gz, z)
        return (grad_for(gz * xp.exp(x - z), mx) if nx else None), (grad_for(gz * xp.exp(y - z), my) if ny else None)


class Copysign(_FloatingBinary):
    ufunc = "copysign"

    @staticmethod
    def backward(ctx, gz):
        # +-1 where the sign was kept or flipped, 0 at x == 0 (as PyTorch); the sign taken from y is constant
        x, _, z = ctx.saved_tensors
        (mx, my), (nx, ny) = ctx.meta, ctx.needs_input_grad
        xp = namespace_of(gz, x)
        gx = xp.where(x == 0, 0, xp.where(xp.signbit(x) == xp.signbit(z), gz, -gz)) if nx else None
        return grad_for(gx, mx, nx), _zero_gradient(gz, my, ny)


class Nextafter(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        return get_array_module(x, y).nextafter(x, y)

    @staticmethod
    def backward(ctx, gz):
        # one step from x: the gradient of x itself, none to the direction y (as PyTorch)
        (mx, my), (nx, ny) = ctx.meta, ctx.needs_input_grad
        return grad_for(gz, mx, nx), _zero_gradient(gz, my, ny)


# ----- the functions -----
def _unary(op, name, doc):
    def fn(x, /):
        return op.apply(x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _binary(op, name, doc):
    def fn(x1, x2, /):
        return E._broadcasting(op, name, x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


asin = arcsin = _unary(Asin, "asin", "Inverse sine (NumPy's ``arcsin``); complex values take the principal branch.")
acos = arccos = _unary(Acos, "acos", "Inverse cosine (NumPy's ``arccos``).")
atan = arctan = _unary(Atan, "atan", "Inverse tangent (NumPy's ``arctan``).")
asinh = arcsinh = _unary(Asinh, "asinh", "Inverse hyperbolic sine (NumPy's ``arcsinh``).")
acosh = arccosh = _unary(Acosh, "acosh", "Inverse hyperbolic cosine (NumPy's ``arccosh``).")
atanh = arctanh = _unary(Atanh, "atanh", "Inverse hyperbolic tangent (NumPy's ``arctanh``).")
sinh = _unary(Sinh, "sinh", "Hyperbolic sine.")
cosh = _unary(Cosh, "cosh", "Hyperbolic cosine.")
tan = _unary(Tan, "tan", "Tangent.")
log2 = _unary(Log2, "log2", "Logarithm in base 2.")
log10 = _unary(Log10, "log10", "Logarithm in base 10.")
reciprocal = _unary(Reciprocal, "reciprocal", "``1 / x`` (integers give the default float dtype).")
square = _unary(Square, "square", "``x * x`` (integers stay integers).")
positive = _unary(Clone, "positive", "``+x``: a copy of ``x``, gradient passed through.")
conj = conjugate = _unary(Conj, "conj", "Complex conjugate (a copy of a real ``x``); gradient ``conj(gy)``.")
floor = _unary(Floor, "floor", "Largest integer not above ``x``; integers come back as they are; zero gradient.")
ceil = _unary(Ceil, "ceil", "Smallest integer not below ``x``; integers come back as they are; zero gradient.")
trunc = _unary(Trunc, "trunc", "``x`` rounded toward zero; integers come back as they are; zero gradient.")
signbit = E._no_grad_op("signbit", arity=1)
signbit.__doc__ = "Whether the sign bit of ``x`` is set (True for -0.0 and negative values); no gradient."

atan2 = arctan2 = _binary(Atan2, "atan2", "Angle of the point ``(x2, x1)`` (NumPy's ``arctan2(y, x)``).")
hypot = _binary(Hypot, "hypot", "``sqrt(x1**2 + x2**2)`` without overflow or underflow.")
logaddexp = _binary(Logaddexp, "logaddexp", "``log(exp(x1) + exp(x2))`` without overflow.")
copysign = _binary(Copysign, "copysign", "The magnitude of ``x1`` with the sign of ``x2``; no gradient to ``x2``.")
nextafter = _binary(Nextafter, "nextafter", "The next float after ``x1`` toward ``x2``; gradient ``gz`` to ``x1``.")


def real(x, /):
    """Real part of a complex ``x`` (a new tensor); a real tensor comes back as it is, as PyTorch's ``real``."""
    if isinstance(x, Tensor) and x.dtype.kind != "c":
        return x
    return Real.apply(x)


def imag(x, /):
    """Imaginary part of ``x`` (zeros for a real ``x``); its gradient moves ``x`` along ``i``."""
    return Imag.apply(x)


def angle(z, deg=False):
    """Argument of complex ``z`` in radians (degrees with ``deg=True``), as NumPy's; gradient as PyTorch's."""
    out = Angle.apply(z)
    return out * (180 / math.pi) if deg else out


negative = E.neg
bitwise_invert = E.invert
bitwise_left_shift = E.left_shift
bitwise_right_shift = E.right_shift
absolute = E.abs

__all__ = ["acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "conj", "copysign", "cosh", "floor",
           "hypot", "imag", "log2", "log10", "logaddexp", "nextafter", "positive", "real", "reciprocal", "signbit",
           "sinh", "square", "tan", "trunc", "negative", "bitwise_invert", "bitwise_left_shift",
           "bitwise_right_shift", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
           "conjugate", "absolute", "angle"]

# NumPy ufunc name -> differentiable implementation, for __array_ufunc__
NUMPY_UFUNCS = {
    "arccos": acos, "arccosh": acosh, "arcsin": asin, "arcsinh": asinh, "arctan": atan, "arctanh": atanh,
    "arctan2": atan2, "cosh": cosh, "sinh": sinh, "tan": tan, "log2": log2, "log10": log10, "hypot": hypot,
    "logaddexp": logaddexp, "copysign": copysign, "nextafter": nextafter, "floor": floor, "ceil": ceil,
    "trunc": trunc, "rint": E.round, "conjugate": conj, "positive": positive, "reciprocal": reciprocal,
    "signbit": signbit, "square": square, "absolute": E.abs, "sign": E.sign,
}
# NumPy function -> differentiable implementation, for __array_function__
NUMPY_FUNCTIONS = {np.real: real, np.imag: imag, np.angle: angle}
