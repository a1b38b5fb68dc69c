"""Tensor methods that exist under these names only in PyTorch, attached to ``Tensor`` on import.

They are the spelled-out forms of operators (``x.add(y, alpha=2)``, ``x.gt(0)``, ``x.div(y, rounding_mode="floor")``),
the fused updates optimizer code calls (``lerp_``, ``addcmul_``, ``addcdiv_``), predicates and sizes
(``is_floating_point``, ``element_size``), picks along one dim (``masked_select``, ``kthvalue``, ``median``,
``cummax``) and ``retain_grad``. NumPy's arrays have none of these methods, so each follows PyTorch; ``nonzero``,
which NumPy's arrays also have with another result, asks which one is meant. ``tensor.py`` stays the core.
"""
import weakref

import numpy as np

from .backend import get_array_module
from .ops import elementwise as E, linalg as L, math_functions as M, selection as P, shape as S
from .ops.indexing import getitem
from .ops.reduction import ValuesIndices
from .tensor import Tensor


def _as_tensor(x, like):
    return x if isinstance(x, Tensor) else Tensor(get_array_module(like.data).asarray(x))


# ----- operators spelled out -----
def add(self, other, *, alpha=1):
    """``self + alpha * other``."""
    return E.add(self, other if alpha == 1 else E.mul(other, alpha))


def sub(self, other, *, alpha=1):
    """``self - alpha * other``."""
    return E.sub(self, other if alpha == 1 else E.mul(other, alpha))


def div(self, other, *, rounding_mode=None):
    """``self / other``; ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"`` down (``//``)."""
    if rounding_mode is None:
        return E.div(self, other)
    if rounding_mode == "floor":
        return E.floor_divide(self, other)
    if rounding_mode != "trunc":
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    other = _as_tensor(other, self)
    if self.dtype.kind in "fc" or other.dtype.kind in "fc":
        return M.trunc(E.div(self, other))
    # integers: the floor quotient, one up where the exact quotient is negative and not whole
    floor = E.floor_divide(self, other)
    inexact = E.not_equal(E.remainder(self, other), 0)
    return E.add(floor, E.logical_and(inexact, E.not_equal(E.less(self, 0), E.less(other, 0))).astype(floor.dtype))


def true_divide(self, other):
    """``self / other``."""
    return E.div(self, other)


def _comparison(op):
    def method(self, other):
        return op(self, other)
    method.__doc__ = f"Elementwise ``{op.__name__}`` as a bool tensor."
    return method


def equal(self, other):
    """True when both tensors have the same shape and the same elements (PyTorch's ``equal``; NaN equals nothing)."""
    return tuple(self.shape) == tuple(other.shape) and bool(E.equal(self, other).all())


def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|self - other| <= atol + rtol * |other|`` as a bool tensor."""
    other = _as_tensor(other, self)
    return Tensor(get_array_module(self.data).isclose(self.data, other.data, rtol, atol, equal_nan))


def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element is close (``isclose``), as a Python bool."""
    return bool(isclose(self, other, rtol, atol, equal_nan).all())


# ----- fused updates -----
def lerp(self, end, weight):
    """``self + weight * (end - self)``."""
    return E.add(self, E.mul(weight, E.sub(end, self)))


def addcmul(self, tensor1, tensor2, *, value=1):
    """``self + value * tensor1 * tensor2``."""
    return E.add(self, E.mul(E.mul(tensor1, tensor2), value))


def addcdiv(self, tensor1, tensor2, *, value=1):
    """``self + value * tensor1 / tensor2``."""
    return E.add(self, E.mul(E.div(tensor1, tensor2), value))


def _in_place(name, fn):
    def method(self, *args, **kwargs):
        return self._update(name, lambda x: fn(x, *args, **kwargs), *args, *kwargs.values())
    method.__doc__ = f"``{name[:-1]}`` in place."
    method.__name__ = name
    return method


# ----- elementwise functions under PyTorch's names -----
def rsqrt(self):
    """``1 / sqrt(self)``."""
    return M.reciprocal(E.sqrt(self))


def frac(self):
    """The fractional part, ``self - trunc(self)`` (the sign of ``self``)."""
    return E.sub(self, M.trunc(self))


def exp2(self):
    """``2 ** self``."""
    return E.pow(2.0, self)


def deg2rad(self):
    """Degrees to radians."""
    return E.mul(self, np.pi / 180)


def rad2deg(self):
    """Radians to degrees."""
    return E.mul(self, 180 / np.pi)


def logit(self, eps=None):
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given."""
    p = self if eps is None else E.clip(self, eps, 1 - eps)
    return E.sub(E.log(p), E.log1p(E.neg(p)))


def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
    """NaN to ``nan``, +inf and -inf to ``posinf`` and ``neginf`` (default: the dtype's largest and smallest finite
    values); the gradient flows to the finite elements."""
    if self.dtype.kind not in "fc":
        return self * 1
    info = np.finfo(self.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    y = E.where(E.isnan(self), nan, self)
    y = E.where(E.logical_and(E.isinf(self), E.greater(self, 0)), posinf, y)
    return E.where(E.logical_and(E.isinf(self), E.less(self, 0)), neginf, y)


# ----- sizes and kinds -----
def is_floating_point(self):
    """Whether the dtype is a floating-point one."""
    return self.dtype.kind == "f" or self.dtype.name == "bfloat16"


def is_complex(self):
    """Whether the dtype is complex."""
    return self.dtype.kind == "c"


def is_signed(self):
    """Whether the dtype holds negative numbers (signed integers, floating point, complex)."""
    return self.dtype.kind in "ifc" or self.dtype.name == "bfloat16"


def element_size(self):
    """Bytes per element."""
    return self.dtype.itemsize


def nelement(self):
    """The number of elements (``numel``)."""
    return self.numel()


def ndimension(self):
    """The number of dimensions (``ndim``)."""
    return self.ndim


# ----- products -----
def mm(self, mat2):
    """The product of two matrices (2-D tensors only, as PyTorch's ``mm``)."""
    if self.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: both operands must be matrices, got shapes {tuple(self.shape)} and "
                         f"{tuple(mat2.shape)}; use matmul (@) for batches and vectors")
    return L.matmul(self, mat2)


def mv(self, vec):
    """The product of a matrix and a vector."""
    if self.ndim != 2 or vec.ndim != 1:
        raise ValueError(f"mv: needs a matrix and a vector, got shapes {tuple(self.shape)} and {tuple(vec.shape)}")
    return L.matmul(self, vec)


def outer(self, vec2):
    """The outer product of two vectors (1-D tensors only, as PyTorch's ``outer``)."""
    if self.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: both operands must be vectors, got shapes {tuple(self.shape)} and "
                         f"{tuple(vec2.shape)}; sparktensor.outer flattens its operands, as NumPy's does")
    return L.outer(self, vec2)


# ----- picks -----
def masked_select(self, mask):
    """The elements where ``mask`` (broadcast with this tensor) is true, as a 1-D tensor in row-major order."""
    mask = _as_tensor(mask, self)
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_select: the mask must be a bool tensor, got {mask.dtype}")
    shape = np.broadcast_shapes(tuple(self.shape), tuple(mask.shape))
    return getitem(S.broadcast_to(self, shape), S.broadcast_to(mask, shape).data)


def nonzero(self, *, as_tuple=None):
    """The indices of the nonzero elements: ``as_tuple=False`` one (n, ndim) int64 tensor (PyTorch's default),
    ``as_tuple=True`` one int64 tensor per dimension (NumPy's ``nonzero``)."""
    if as_tuple is None:
        raise TypeError("x.nonzero() reads two ways: PyTorch's gives one (n, ndim) tensor of indices, NumPy's a "
                        "tuple of one index tensor per dimension. Say which: x.nonzero(as_tuple=False) (or "
                        "x.argwhere()) for PyTorch's, x.nonzero(as_tuple=True) (or sparktensor.nonzero(x)) for NumPy's")
    from .ops.searching import nonzero as per_dimension
    indices = per_dimension(self)
    if as_tuple:
        return indices
    return argwhere(self)


def argwhere(self):
    """The indices of the nonzero elements as one (n, ndim) int64 tensor."""
    xp = get_array_module(self.data)
    return Tensor(xp.argwhere(self.data).astype(np.int64))


def count_nonzero(self, dim=None):
    """How many elements are nonzero along ``dim`` (all when ``None``), as an int64 tensor."""
    from .ops.searching import count_nonzero as count
    return count(self, axis=dim)


def repeat_interleave(self, repeats, dim=None):
    """Each element repeated ``repeats`` times along ``dim`` (of the flattened tensor when ``None``)."""
    return S.repeat(self, repeats, dim)


def _dim(self, dim, op):
    if self.ndim == 0:
        return 0
    if not -self.ndim <= dim < self.ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {tuple(self.shape)}")
    return dim % self.ndim


def _running(self, dim, op, accumulate):
    """Running maxima or minima along ``dim`` with the index each came from: the last position holding it, or the
    last NaN once one was met (PyTorch's ``cummax``/``cummin``)."""
    xp = get_array_module(self.data)
    x = self.data if self.ndim else self.data.reshape(1)
    axis = _dim(self, dim, op)
    running = accumulate(x, axis=axis)
    positions = xp.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    held = (x == running) | (xp.isnan(x) if x.dtype.kind in "fc" else False)
    index = xp.maximum.accumulate(xp.where(held, positions, 0), axis=axis).astype(np.int64)
    source = self if self.ndim else S.reshape(self, (1,))
    values = P.gather(source, axis, Tensor(index))
    if not self.ndim:
        values, index = S.reshape(values, ()), index.reshape(())
    return ValuesIndices(values, Tensor(index))


def cummax(self, dim):
    """Running maxima along ``dim`` and the indices they came from."""
    xp = get_array_module(self.data)
    return _running(self, dim, "cummax", xp.maximum.accumulate)


def cummin(self, dim):
    """Running minima along ``dim`` and the indices they came from."""
    xp = get_array_module(self.data)
    return _running(self, dim, "cummin", xp.minimum.accumulate)


def kthvalue(self, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element along ``dim`` (``k`` from 1) and its index; NaN counts as the largest."""
    axis = _dim(self, dim, "kthvalue")
    n = self.shape[axis] if self.ndim else 1
    if not 1 <= k <= n:
        raise ValueError(f"kthvalue: k={k} is out of range for dim {dim} of size {n} (tensor of shape "
                         f"{tuple(self.shape)})")
    return _pick_order_statistic(self, axis, k - 1, keepdim, nan_wins=False)


def median(self, dim=None, keepdim=False):
    """PyTorch's median: the lower of the two middle elements for an even count (NumPy's ``median`` averages
    them), NaN where there is one. With ``dim``, ``(values, indices)``; without, one 0-d tensor of all elements."""
    if dim is None:
        flat = S.reshape(self, (-1,))
        if flat.shape[0] == 0:
            raise ValueError("median: the tensor is empty")
        return _pick_order_statistic(flat, 0, (flat.shape[0] - 1) // 2, False, nan_wins=True).values
    axis = _dim(self, dim, "median")
    n = self.shape[axis] if self.ndim else 1
    if n == 0:
        raise ValueError(f"median: dim {dim} of shape {tuple(self.shape)} is empty")
    return _pick_order_statistic(self, axis, (n - 1) // 2, keepdim, nan_wins=True)


def _pick_order_statistic(self, axis, position, keepdim, nan_wins):
    """The element of rank ``position`` (from 0) along ``axis`` and its index; with ``nan_wins`` the first NaN of
    a slice that has one instead (PyTorch's median)."""
    xp = get_array_module(self.data)
    x = self.data if self.ndim else self.data.reshape(1)
    order = xp.argsort(x, axis=axis, kind="stable")
    index = xp.take(order, [position], axis=axis)
    if nan_wins and x.dtype.kind in "fc":
        nans = xp.isnan(x)
        index = xp.where(nans.any(axis=axis, keepdims=True), nans.argmax(axis=axis, keepdims=True), index)
    index = index.astype(np.int64)
    source = self if self.ndim else S.reshape(self, (1,))
    values = P.gather(source, axis, Tensor(index))
    if not keepdim or not self.ndim:
        values, index = S.squeeze(values, axis), index.squeeze(axis)
    return ValuesIndices(values, Tensor(index))


# ----- autograd -----
_retaining = {}  # id(tensor) -> the handle of its retain_grad hook


def retain_grad(self):
    """Keep this non-leaf tensor's gradient in ``.grad`` when backward runs (accumulating, as a leaf's does); a
    leaf keeps it anyway."""
    if not self.requires_grad:
        raise RuntimeError(f"retain_grad: this tensor (shape {tuple(self.shape)}) does not require grad, so no "
                           f"gradient will be computed for it")
    if self.is_leaf or id(self) in _retaining:
        return
    ref = weakref.ref(self)

    def keep(grad):
        tensor = ref()
        if tensor is not None:
            grad = grad.detach()
            tensor.grad = grad * 1 if tensor.grad is None else tensor.grad + grad
    _retaining[id(self)] = self.register_hook(keep)
    weakref.finalize(self, _retaining.pop, id(self), None)


def _retains_grad(self):
    return id(self) in _retaining


METHODS = {
    "add": add, "sub": sub, "subtract": sub, "mul": E.mul, "multiply": E.mul, "div": div, "divide": div,
    "true_divide": true_divide, "floor_divide": E.floor_divide, "remainder": E.remainder,
    "eq": _comparison(E.equal), "ne": _comparison(E.not_equal), "not_equal": _comparison(E.not_equal),
    "gt": _comparison(E.greater), "greater": _comparison(E.greater),
    "ge": _comparison(E.greater_equal), "greater_equal": _comparison(E.greater_equal),
    "lt": _comparison(E.less), "less": _comparison(E.less),
    "le": _comparison(E.less_equal), "less_equal": _comparison(E.less_equal),
    "logical_and": _comparison(E.logical_and), "logical_or": _comparison(E.logical_or),
    "logical_xor": _comparison(E.logical_xor), "logical_not": lambda self: E.logical_not(self),
    "bitwise_and": _comparison(E.bitwise_and), "bitwise_or": _comparison(E.bitwise_or),
    "bitwise_xor": _comparison(E.bitwise_xor), "bitwise_not": lambda self: E.invert(self),
    "equal": equal, "isclose": isclose, "allclose": allclose,
    "lerp": lerp, "addcmul": addcmul, "addcdiv": addcdiv,
    "lerp_": _in_place("lerp_", lerp), "addcmul_": _in_place("addcmul_", addcmul),
    "addcdiv_": _in_place("addcdiv_", addcdiv),
    "rsqrt": rsqrt, "frac": frac, "exp2": exp2, "deg2rad": deg2rad, "rad2deg": rad2deg, "logit": logit,
    "nan_to_num": nan_to_num,
    "is_floating_point": is_floating_point, "is_complex": is_complex, "is_signed": is_signed,
    "element_size": element_size, "nelement": nelement, "ndimension": ndimension,
    "mm": mm, "mv": mv, "outer": outer, "ger": outer,
    "masked_select": masked_select, "nonzero": nonzero, "argwhere": argwhere, "count_nonzero": count_nonzero,
    "repeat_interleave": repeat_interleave, "cummax": cummax, "cummin": cummin, "kthvalue": kthvalue,
    "median": median, "retain_grad": retain_grad, "retains_grad": property(_retains_grad),
}

# in-place forms of the elementwise methods above and of tensor.py's (x.exp_(), x.sigmoid_(), ...)
for _name in ("abs", "neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid",
              "relu", "floor", "ceil", "trunc", "frac", "round", "reciprocal", "square", "sign", "pow", "remainder",
              "floor_divide", "lerp", "nan_to_num", "logit", "deg2rad", "rad2deg", "exp2"):
    METHODS.setdefault(_name + "_", _in_place(_name + "_", lambda x, *a, _n=_name, **k: getattr(x, _n)(*a, **k)))

for _name, _method in METHODS.items():
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _method)
