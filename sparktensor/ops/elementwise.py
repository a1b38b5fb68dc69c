"""Elementwise operations with NumPy broadcasting: arithmetic, math functions, comparisons.

Every backward follows the rule in ``_grad_utils`` (written against ``xp = namespace_of(...)`` so that it can be
differentiated again) and PyTorch's convention for complex values (conjugate Wirtinger): for a holomorphic
``z = f(x)`` the gradient is ``gz * conj(f'(x))``, which costs nothing more than ``gz * f'(x)`` for real values.
"""
import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..backend import get_array_module
from ..parallel import map_flat
from ._grad_utils import as_output, conj, grad_for, is_tensor, meta, namespace_of


def conj_of(v):
    """``conj`` that also takes Python numbers (a scalar operand kept for backward); real values come back as
    they are."""
    dtype = getattr(v, "dtype", None)
    if dtype is None:
        return v.conjugate() if type(v) is complex else v
    return v if dtype.kind != "c" else namespace_of(v).conj(v)


def real_of(v):
    """The real part of a complex value, a real value itself (an array, a Tensor or a Python number)."""
    if isinstance(v, complex):
        return v.real
    return namespace_of(v).real(v) if getattr(v, "dtype", None) is not None and v.dtype.kind == "c" else v


def integral(v):
    """True for integer and bool arrays and Python ints and bools (whose float results take the default float)."""
    kind = v.dtype.kind if hasattr(v, "dtype") else ("b" if isinstance(v, (bool, int)) else "f")
    return kind in "biu"


def floating(x):
    """``x`` itself, or as the default float dtype when it holds integers or bools (as PyTorch computes
    ``exp``, ``sqrt``, ... of integers)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind in "fc":  # the usual case first: a float array
        return x
    return x.astype(dtypes.get_default_dtype()) if dtype.kind in "biu" else x


def float_result(fn, x):
    """``fn(x)`` as an array, also when 0-d (NumPy gives a scalar there, which an op that saves its output must
    not keep), with integers and bools computed in the default float."""
    y = fn(x if x.dtype.kind in "fc" else floating(x))
    return y if y.ndim else get_array_module(y).asarray(y)


# ----- arithmetic -----
class Add(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        return x + y

    @staticmethod
    def backward(ctx, gz):
        mx, my = ctx.meta
        nx, ny = ctx.needs_input_grad
        return grad_for(gz, mx, nx), grad_for(gz, my, ny)


class Sub(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        return x - y

    @staticmethod
    def backward(ctx, gz):
        mx, my = ctx.meta
        nx, ny = ctx.needs_input_grad
        return grad_for(gz, mx, nx), grad_for(-gz, my, ny) if ny else None


class Mul(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        mx, my = ctx.meta
        nx, ny = ctx.needs_input_grad
        if gz.dtype.kind == "c":  # a complex product: each factor's gradient takes the other's conjugate
            x, y = conj_of(x), conj_of(y)
        return (grad_for(gz * y, mx) if nx else None), (grad_for(gz * x, my) if ny else None)


class Div(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        z = as_output(x / y)  # saved outputs stay arrays (NumPy makes a 0-d result a scalar)
        if z.dtype.kind == "f" and z.dtype.itemsize == 8 and integral(x) and integral(y):
            z = z.astype(dtypes.get_default_dtype(), copy=False)
        ctx.save_for_backward(y, z)
        return z

    @staticmethod
    def backward(ctx, gz):
        y, z = ctx.saved_tensors
        mx, my = ctx.meta
        if gz.dtype.kind == "c":  # a complex quotient: the gradients take the conjugates
            y, z = conj_of(y), conj_of(z)
        gx = gz / y
        return (grad_for(gx, mx, ctx.needs_input_grad[0]),
                grad_for(-gx * z, my) if ctx.needs_input_grad[1] else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        z = as_output(x ** y)
        ctx.save_for_backward(x, y, z)
        return z

    @staticmethod
    def backward(ctx, gz):
        x, y, z = ctx.saved_tensors
        xp = namespace_of(gz)
        mx, my = ctx.meta
        gx = gy = None
        if ctx.needs_input_grad[0]:
            # y x**(y-1), taken as 0 where y == 0 (as PyTorch): at x == 0 it would be 0 * inf
            with np.errstate(divide="ignore", invalid="ignore"):  # CuPy has no errstate and never warns
                dx = y * x ** (y - 1)
            if hasattr(y, "shape"):
                dx = xp.where(y == 0, 0, dx)
            elif y == 0:
                dx = xp.zeros_like(dx)
            gx = grad_for(gz * conj_of(dx), mx)
        if ctx.needs_input_grad[1]:
            # d(x**y)/dy = x**y log x, taken as 0 where x == 0 and y >= 0 (the limit; the real part of y if complex)
            with np.errstate(divide="ignore", invalid="ignore"):
                dy = z * (xp.log(x) if hasattr(x, "shape") else np.log(x))
            dy = xp.where((x == 0) & (real_of(y) >= 0), 0, dy)
            gy = grad_for(gz * conj_of(dy), my)
        return gx, gy


class FloorDivide(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        z = x // y
        if z.dtype.kind == "f":
            # infinities as IEEE division and the standard have them (NumPy's floor_divide makes inf // 2 NaN
            # and 1 // -inf -1): floor(x / y) there
            xp = get_array_module(z)
            infinite = xp.isinf(x) | xp.isinf(y)
            if infinite.any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    z = xp.where(infinite, xp.floor(x / y), z)
        return z

    @staticmethod
    def backward(ctx, gz):
        # piecewise constant: the gradient is zero wherever it exists (a constant, as PyTorch's)
        xp = get_array_module(gz)
        return tuple(None if m is None else xp.zeros(*m) for m in ctx.meta)


class Remainder(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(x, y)
        return x % y

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        mx, my = ctx.meta
        xp = namespace_of(gz)
        gy = grad_for(-gz * xp.floor_divide(x, y), my) if ctx.needs_input_grad[1] else None
        return grad_for(gz, mx, ctx.needs_input_grad[0]), gy


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


def _broadcasting(op, name, *args):
    """``op.apply(*args)``; when the shapes do not broadcast, the error names ``name`` and every shape."""
    try:
        return op.apply(*args)
    except ValueError as e:
        shapes = [np.shape(a) for a in args if a is not None]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            listed = ", ".join(str(s) for s in shapes[:-1]) + f" and {shapes[-1]}"
            raise ValueError(f"{name}: cannot broadcast shapes {listed}; aligned from the right, each pair of "
                             f"dimensions must be equal or one of them 1") from e
        raise


def add(x, y):
    """``x + y`` with broadcasting."""
    return _broadcasting(Add, "add", x, y)


def sub(x, y):
    """``x - y`` with broadcasting."""
    return _broadcasting(Sub, "sub", x, y)


def mul(x, y):
    """``x * y`` with broadcasting."""
    return _broadcasting(Mul, "mul", x, y)


def div(x, y):
    """``x / y`` with broadcasting (true division; of two integer operands, in the default float dtype)."""
    return _broadcasting(Div, "div", x, y)


def pow(x, y):
    """``x ** y`` with broadcasting."""
    return _broadcasting(Pow, "pow", x, y)


def floor_divide(x, y):
    """``x // y``; its gradient is zero."""
    return _broadcasting(FloorDivide, "floor_divide", x, y)


def remainder(x, y):
    """``x % y`` with the sign of ``y``, as NumPy."""
    return _broadcasting(Remainder, "remainder", x, y)


def neg(x):
    """``-x``."""
    return Neg.apply(x)


# ----- math functions -----
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = float_result(get_array_module(x).exp, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * y if gy.dtype.kind != "c" else gy * conj(y)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return float_result(get_array_module(x).log, x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / x if gy.dtype.kind != "c" else gy / conj(x)


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).log1p(floating(x))

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / conj(1 + x)


def complex_expm1(xp, x):
    """``exp(x) - 1`` of complex ``x``, accurate near 0 (NumPy's loses it) and with the standard's special cases
    (those of ``exp(x) - 1``) where a part is infinite or NaN."""
    a, b = xp.real(x), xp.imag(x)
    with np.errstate(invalid="ignore", over="ignore"):
        real = xp.expm1(a) * xp.cos(b) - 2 * xp.sin(b / 2) ** 2 + 0.0  # + 0.0: expm1(-0 + 0j) is +0
        precise = real + 1j * (xp.exp(a) * xp.sin(b))
        return xp.where(xp.isfinite(x), precise, xp.exp(x) - 1)


class Expm1(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = as_output(complex_expm1(xp, x) if x.dtype.kind == "c" else xp.expm1(floating(x)))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * conj(y + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = float_result(get_array_module(x).sqrt, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy / (2 * y) if gy.dtype.kind != "c" else gy / conj(2 * y)


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).sin(floating(x))

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * conj(namespace_of(x).cos(x))


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).cos(floating(x))

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return -gy * conj(namespace_of(x).sin(x))


def complex_tanh(xp, x):
    """``tanh`` of complex ``x``, where an infinite real part with a finite imaginary part ``b`` gives
    ``+-1 + 0j * sign(b)`` as the standard says (NumPy takes the zero's sign from ``sin(2 b)``)."""
    a, b = xp.real(x), xp.imag(x)
    limit = xp.copysign(1.0, a) + 0j
    limit = xp.where(xp.signbit(b), xp.conj(limit), limit)  # conj flips the zero's sign; a sum would lose it
    return xp.where(xp.isinf(a) & xp.isfinite(b), limit, xp.tanh(x))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = as_output(complex_tanh(xp, x)) if x.dtype.kind == "c" else float_result(xp.tanh, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (1 - y * y) if gy.dtype.kind != "c" else gy * conj(1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        # the tanh form never overflows, unlike 1 / (1 + exp(-x))
        y = as_output(get_array_module(x).tanh(floating(x) * 0.5))
        y += 1
        y *= 0.5
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (y * (1 - y)) if gy.dtype.kind != "c" else gy * conj(y * (1 - y))


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = as_output(map_flat(lambda out, x: xp.maximum(x, 0, out=out), xp.empty_like(x), x) if x.ndim
                      else xp.maximum(x, 0))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        if is_tensor(gy) or is_tensor(y) or gy.shape != y.shape or not y.ndim:
            return gy * (y > 0)
        xp = get_array_module(y)
        return map_flat(lambda out, gy, y: xp.multiply(gy, y > 0, out=out), xp.empty_like(y, gy.dtype), gy, y)


def unit(x, size):
    """``x / |x|`` with 0 where ``x`` is 0, given ``size = |x|``: the sign of a complex value."""
    return x / namespace_of(x, size).where(size == 0, 1, size)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        if x.dtype.kind != "c":
            ctx.save_for_backward(x)
            return get_array_module(x).abs(x)
        y = as_output(get_array_module(x).abs(x))
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        # real: gy * sign(x), 0 at 0 (as PyTorch); complex: gy * x / |x|, 0 at 0
        x, *y = ctx.saved_tensors
        return gy * (unit(x, y[0]) if y else namespace_of(x).sign(x))


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        if x.dtype.kind != "c":
            return xp.sign(x)
        # x / |x| (NumPy 2's sign; older CuPy's takes the sign of the real part); + 0 makes sign(-0 - 0j) 0 + 0j
        y = as_output(unit(x, xp.abs(x)) + 0)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        if not ctx.saved_tensors:  # real: piecewise constant, a zero gradient (as PyTorch)
            return namespace_of(gy).zeros_like(gy)
        # complex: the part of gy across the unit circle at y, over |x| (PyTorch's sgn backward); 0 at x == 0
        x, y = ctx.saved_tensors
        xp = namespace_of(gy, x)
        size = xp.abs(x)
        return (gy - xp.real(gy * xp.conj(y)) * y) / xp.where(size == 0, 1, size) * (size != 0)


class Round(Function):
    @staticmethod
    def forward(ctx, x, decimals):
        if hasattr(x, "dtype") and (x.dtype.kind == "b" or (integral(x) and decimals >= 0)):
            return x.copy()  # already whole (NumPy would make bools float16)
        return get_array_module(x).round(x, decimals)

    @staticmethod
    def backward(ctx, gy):
        # piecewise constant: the gradient is zero wherever it exists, as PyTorch's
        return namespace_of(gy).zeros_like(gy), None


class Clip(Function):
    @staticmethod
    def forward(ctx, x, low, high):
        xp = get_array_module(x, low, high)
        ctx.meta = meta(x), meta(low), meta(high)
        ctx.save_for_backward(x, low, high)
        y = x
        if low is not None:
            y = xp.maximum(y, low)
        if high is not None:
            y = xp.minimum(y, high)
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, gy):
        # the gradient goes to x where it lies inside [low, high], else to the bound it was clipped to (as PyTorch)
        x, low, high = ctx.saved_tensors
        xp = namespace_of(gy)
        below = False if low is None else x < low
        above = False if high is None else x > high
        if low is not None and high is not None:
            crossed = low > high  # where min > max the result is max, and so is the gradient's way (as PyTorch)
            if hasattr(crossed, "shape") or crossed:
                above = above | crossed
                below = below & ~above
        (mx, mlow, mhigh), (nx, nlow, nhigh) = ctx.meta, ctx.needs_input_grad
        return (grad_for(xp.where(below | above, 0, gy), mx) if nx else None,
                grad_for(xp.where(below, gy, 0), mlow) if nlow else None,
                grad_for(xp.where(above, gy, 0), mhigh) if nhigh else None)


class Maximum(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(x, y)
        return get_array_module(x, y).maximum(x, y)

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        # ties share the gradient equally, as PyTorch; the share is a constant of the gradient
        to_x = (x > y) + 0.5 * (x == y)
        mx, my = ctx.meta
        return (grad_for(gz * to_x, mx) if ctx.needs_input_grad[0] else None,
                grad_for(gz * (1 - to_x), my) if ctx.needs_input_grad[1] else None)


class Minimum(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(x, y)
        return get_array_module(x, y).minimum(x, y)

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        to_x = (x < y) + 0.5 * (x == y)
        mx, my = ctx.meta
        return (grad_for(gz * to_x, mx) if ctx.needs_input_grad[0] else None,
                grad_for(gz * (1 - to_x), my) if ctx.needs_input_grad[1] else None)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(condition)
        return get_array_module(condition, x, y).where(condition, x, y)

    @staticmethod
    def backward(ctx, gz):
        condition, = ctx.saved_tensors
        xp = namespace_of(gz)
        mx, my = ctx.meta
        return (None,
                grad_for(xp.where(condition, gz, 0), mx) if ctx.needs_input_grad[1] else None,
                grad_for(xp.where(condition, 0, gz), my) if ctx.needs_input_grad[2] else None)


def exp(x):
    """``e ** x``."""
    return Exp.apply(x)


def log(x):
    """Natural logarithm."""
    return Log.apply(x)


def log1p(x):
    """``log(1 + x)``, accurate for small ``x``."""
    return Log1p.apply(x)


def expm1(x):
    """``exp(x) - 1``, accurate for small ``x``."""
    return Expm1.apply(x)


def sqrt(x):
    """Square root."""
    return Sqrt.apply(x)


def sin(x):
    """Sine."""
    return Sin.apply(x)


def cos(x):
    """Cosine."""
    return Cos.apply(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(x)


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""
    return Sigmoid.apply(x)


def relu(x):
    """``max(x, 0)``."""
    return Relu.apply(x)


def abs(x):
    """Absolute value (the modulus of complex ``x``); the gradient at 0 is 0, as PyTorch's."""
    return Abs.apply(x)


def sign(x):
    """-1, 0 or 1 by the sign of ``x`` (zero gradient); for complex ``x``, ``x / |x|`` (0 at 0)."""
    return Sign.apply(x)


def round(x, decimals=0):
    """``x`` rounded to ``decimals`` places, halves to even (NumPy's ``round``; complex: both parts); zero
    gradient. Integers come back as they are."""
    return Round.apply(x, int(decimals))


def clip(x, /, min=None, max=None):
    """Limit values to ``[min, max]`` (numbers or tensors; ``None`` is no bound, and with neither ``x`` comes
    back as a copy); the gradient passes where ``x`` lies inside, else to the bound it was clipped to."""
    return _broadcasting(Clip, "clip", x, min, max)


def maximum(x, y):
    """Elementwise maximum; where ``x == y`` each gets half the gradient (as PyTorch 2's ``maximum``)."""
    return _broadcasting(Maximum, "maximum", x, y)


def minimum(x, y):
    """Elementwise minimum; where ``x == y`` each gets half the gradient (as PyTorch 2's ``minimum``)."""
    return _broadcasting(Minimum, "minimum", x, y)


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y``."""
    return _broadcasting(Where, "where", condition, x, y)


# ----- comparisons and logic (no gradient) -----
class _Elementwise(Function):
    """An op without a gradient, computed by the NumPy/CuPy function named ``ufunc``."""
    ufunc = None

    @classmethod
    def forward(cls, ctx, *xs):
        return getattr(get_array_module(*xs), cls.ufunc)(*xs)


def _no_grad_op(name, arity=2):
    """The function ``name(x1, x2, /)`` (or ``name(x, /)``) computed by NumPy's ufunc of that name; no gradient."""
    op = type(name.title().replace("_", ""), (_Elementwise,), {"ufunc": name})
    if arity == 1:
        def fn(x, /):
            return op.apply(x)
    else:
        def fn(x1, x2, /):
            return _broadcasting(op, name, x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{name}``, as NumPy's; no gradient."
    return fn


equal = _no_grad_op("equal")
not_equal = _no_grad_op("not_equal")
less = _no_grad_op("less")
less_equal = _no_grad_op("less_equal")
greater = _no_grad_op("greater")
greater_equal = _no_grad_op("greater_equal")
logical_not = _no_grad_op("logical_not", arity=1)
logical_and = _no_grad_op("logical_and")
logical_or = _no_grad_op("logical_or")
logical_xor = _no_grad_op("logical_xor")
isnan = _no_grad_op("isnan", arity=1)
isinf = _no_grad_op("isinf", arity=1)
isfinite = _no_grad_op("isfinite", arity=1)


def _check_bitwise(name, symbol, xs):
    for x in xs:
        dtype = getattr(x, "dtype", None)
        kind = dtype.kind if dtype is not None else ("f" if isinstance(x, float) else "i")
        if kind not in "biu":
            raise TypeError(f"{symbol} ({name}) is bitwise on integers and logical on bool, as in NumPy, and not "
                            f"defined for {dtype or type(x).__name__}; compare first (x > 0) or convert (x.long())")


def _bitwise(name, symbol, arity=2):
    """NumPy's bitwise ufunc ``name``: bitwise on integers, logical on bool, a TypeError on floats."""
    op = _no_grad_op(name, arity)
    if arity == 1:
        def fn(x, /):
            _check_bitwise(name, symbol, (x,))
            return op(x)
    else:
        def fn(x1, x2, /):
            _check_bitwise(name, symbol, (x1, x2))
            return op(x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{symbol}``: NumPy's ``{name}`` (bitwise on integers, logical on bool); no gradient."
    return fn


bitwise_and = _bitwise("bitwise_and", "&")
bitwise_or = _bitwise("bitwise_or", "|")
bitwise_xor = _bitwise("bitwise_xor", "^")
bitwise_not = invert = _bitwise("invert", "~", arity=1)
left_shift = bitwise_left_shift = _bitwise("left_shift", "<<")
right_shift = bitwise_right_shift = _bitwise("right_shift", ">>")
