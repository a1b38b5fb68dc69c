"""The Array API's ``cumulative_sum``, ``cumulative_prod`` and ``diff``, differentiable to any order.

A running sum and the running sum taken from the end are each other's adjoints, so they are one Function whose
backward is itself taken the other way. The running product's gradient follows PyTorch's, zeros in the input
included.
"""
import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import conj, differentiable, is_tensor, namespace_of, values_of
from .take import axis_slice, gather_at, scatter_add_at


class CumulativeSum(Function):
    """``out[k] = x[0] + ... + x[k]`` along ``axis``; with ``reverse``, ``out[k] = x[k] + ... + x[n-1]``."""

    @staticmethod
    def forward(ctx, x, axis, reverse):
        ctx.axis, ctx.reverse = axis, reverse
        xp = get_array_module(x)
        if reverse:
            return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)
        return xp.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        # each input adds to every later output: the adjoint of a running sum is the one taken the other way
        return differentiable(CumulativeSum, gy, ctx.axis, not ctx.reverse), None, None


class CumulativeProd(Function):
    """``out[k] = x[0] * ... * x[k]`` along ``axis``."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        y = get_array_module(x).cumprod(x, axis=axis)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        axis, raw = ctx.axis, values_of(x)
        if x.shape[axis] <= 1:
            return gy, None
        zero = raw == 0
        if not zero.any():
            # gx[k] = sum over i >= k of gy[i] * y[i] / x[k]
            return differentiable(CumulativeSum, gy * conj(y), axis, True) / conj(x), None
        if is_tensor(gy) or is_tensor(x):  # a gradient being recorded: every derivative must hold too
            return _cumprod_grad_differentiable(gy, x, axis), None
        return _cumprod_grad_with_zeros(gy, x, y, zero, axis), None


def _cumprod_grad_with_zeros(gy, x, y, zero, axis):
    """PyTorch's O(n) gradient where ``x`` holds zeros: before a slice's first zero ``gy * y / x`` summed from the
    end, at it the same sum with that zero taken as one, after it nothing (every product there holds the zero)."""
    xp = get_array_module(gy)
    zeros_so_far = xp.cumsum(zero, axis=axis)
    before, first = zeros_so_far == 0, zero & (zeros_so_far == 1)
    ahead = CumulativeSum.forward(CumulativeSum(), gy * conj(y), axis, True) / conj(xp.where(zero, 1, x))
    without_first = xp.cumprod(xp.where(first, 1, x), axis=axis)
    at_first = CumulativeSum.forward(CumulativeSum(), gy * conj(without_first), axis, True)
    return xp.where(before, ahead, xp.where(first, at_first, 0))


def _cumprod_grad_differentiable(gy, x, axis):
    """The gradient with zeros in ``x``, as a formula whose every derivative is right there too (PyTorch's O(n^2)
    one for double backward): ``gx[k] = sum over i >= k of gy[i] * prod over j <= i, j != k of x[j]``."""
    xp, device = namespace_of(gy, x), get_array_module(values_of(x))
    n, after = x.shape[axis], x.shape[axis + 1:]
    at = lambda v: v.reshape(v.shape[:axis] + (1,) + v.shape[axis:])  # noqa: E731 (a new axis k before axis i)
    on_pair = lambda m: m.reshape((1,) * axis + (n, n) + (1,) * len(after))  # noqa: E731
    # x with x[k] taken as one, for each k along the new axis; running products of it along the old one
    skipped = xp.where(on_pair(device.eye(n, dtype=bool)), 1, at(x))
    products = differentiable(CumulativeProd, skipped, axis + 1)
    later = on_pair(device.triu(device.ones((n, n), dtype=bool)))
    return (xp.where(later, conj(products), 0) * at(gy)).sum(axis=axis + 1)


# ----- public functions -----
def _kept_in(y, dtype):
    """``y`` in the accumulation ``dtype``: NumPy's running sums and products of small integers widen to 64 bits
    even when the input is already in the dtype asked for."""
    if y.dtype == dtype:
        return y
    from .conversion import astype
    return astype(y, dtype)


def _accumulation_dtype(x, dtype):
    """The standard's default: integers narrower than the default integer (and bools) accumulate in it."""
    from .. import dtypes
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "b" or (kind == "i" and size < 8):
        return np.dtype(np.int64)
    if kind == "u" and size < 8:
        return np.dtype(np.uint64)
    return x.dtype


def _prepared(x, axis, dtype, op):
    """``x`` in the accumulation dtype and the axis to run along (a 1-D or 0-d tensor may leave it out)."""
    from .conversion import astype
    from .shape import reshape
    dtype = _accumulation_dtype(x, dtype)
    if x.dtype != dtype:
        x = astype(x, dtype)
    if x.ndim == 0:
        x = reshape(x, (1,))
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"{op}: a tensor of shape {x.shape} needs an axis (None is only for 1-D tensors; "
                             f"flatten it first to run over all elements)")
        axis = 0
    if not hasattr(axis, "__index__") or not -x.ndim <= int(axis) < x.ndim:
        raise IndexError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return x, int(axis) % x.ndim


def _with_initial(x, axis, value):
    """``x`` with one slice of ``value`` put before it along ``axis``."""
    xp = get_array_module(x.data)
    shape = x.shape[:axis] + (x.shape[axis] + 1,) + x.shape[axis + 1:]
    padded = scatter_add_at(x, axis_slice(x.ndim, axis, 1), shape)
    if value == 0:
        return padded
    initial = xp.zeros(shape, x.dtype)
    initial[axis_slice(x.ndim, axis, 0, 1)] = value
    return padded + initial


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """Running sums along ``axis`` (optional for a 1-D tensor); ``include_initial`` starts with a zero.
    Integers narrower than int64 (and bools) sum in int64 unless ``dtype`` says otherwise."""
    x, axis = _prepared(x, axis, dtype, "cumulative_sum")
    if include_initial:
        x = _with_initial(x, axis, 0)
    return _kept_in(CumulativeSum.apply(x, axis, False), x.dtype)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    """Running products along ``axis`` (optional for a 1-D tensor); ``include_initial`` starts with a one. The
    gradient is PyTorch's, right where the input holds zeros, and differentiable again."""
    x, axis = _prepared(x, axis, dtype, "cumulative_prod")
    if include_initial:
        x = _with_initial(x, axis, 1)
    return _kept_in(CumulativeProd.apply(x, axis), x.dtype)


def cumprod(x, axis=None, dtype=None, *, dim=None):
    """NumPy's and PyTorch's ``cumprod``: running products along ``axis``/``dim``; ``axis=None`` runs over the
    flattened tensor."""
    from .shape import reshape
    axis = axis if dim is None else dim
    if axis is None:
        x, axis = reshape(x, -1), 0
    return cumulative_prod(x, axis=axis, dtype=dtype)


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    """The ``n``-th differences ``x[i+1] - x[i]`` along ``axis``; ``prepend``/``append`` (tensors or numbers)
    are joined before and after ``x`` first. Gradients reach ``x``, ``prepend`` and ``append``."""
    from .shape import concatenate
    if not hasattr(n, "__index__") or int(n) < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    if x.ndim == 0:
        raise ValueError("diff needs a tensor of at least one dimension, got a 0-d tensor")
    if not hasattr(axis, "__index__") or not -x.ndim <= int(axis) < x.ndim:
        raise IndexError(f"diff: axis {axis!r} is out of range for a tensor of shape {x.shape}")
    axis = int(axis) % x.ndim
    parts = [_edge(prepend, x, axis, "prepend"), x, _edge(append, x, axis, "append")]
    parts = [p for p in parts if p is not None]
    if len(parts) > 1:
        x = concatenate(parts, axis=axis)
    for _ in range(int(n)):
        if x.shape[axis] == 0:
            break
        x = gather_at(x, axis_slice(x.ndim, axis, 1)) - gather_at(x, axis_slice(x.ndim, axis, None, -1))
    return x


def _edge(value, x, axis, name):
    """``prepend`` or ``append`` as a tensor to join to ``x``: a number or 0-d tensor becomes one slice."""
    from ..tensor import Tensor
    from ..creation import as_tensor
    from .shape import broadcast_to
    if value is None:
        return None
    if not isinstance(value, Tensor):
        value = as_tensor(get_array_module(x.data).asarray(value))  # its own dtype: joining promotes, as NumPy's
    if value.ndim == 0:
        value = broadcast_to(value, x.shape[:axis] + (1,) + x.shape[axis + 1:])
    if value.ndim != x.ndim or value.shape[:axis] + value.shape[axis + 1:] != x.shape[:axis] + x.shape[axis + 1:]:
        raise ValueError(f"diff: {name} of shape {value.shape} does not match the tensor's {x.shape} off axis {axis}")
    return value
