"""Reductions over axes (``axis`` an int or a tuple, ``keepdims``) and the softmax family."""
import builtins
import math
from typing import NamedTuple

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import as_output, conj, is_tensor, namespace_of, normalize_axis, values_of


def _pick(axis, keepdims, dim, keepdim):
    """Accept PyTorch's ``dim``/``keepdim`` beside NumPy's ``axis``/``keepdims``."""
    return (axis if dim is None else dim), (keepdims if keepdim is None else keepdim)


def _expand(g, shape, axes):
    """Undo a reduction without keepdims: put the reduced axes back as size 1, then broadcast."""
    kept = list(shape)
    for a in axes:
        kept[a] = 1
    return namespace_of(g).broadcast_to(g.reshape(kept), shape)


def _axes(axis, ndim):
    """``normalize_axis``, except that a 0-d tensor takes axis 0 or -1 (as PyTorch) and reduces nothing."""
    if ndim == 0:
        normalize_axis(axis, 1)  # only checks the range
        return ()
    return normalize_axis(axis, ndim)


def _one_axis(axis, ndim, op):
    """The axes tuple (one axis, none for a 0-d tensor) of an op that works along a single axis."""
    if not hasattr(axis, "__index__"):
        raise TypeError(f"{op} works along one axis, an int, not {axis!r}")
    return _axes(axis, ndim)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes = x.shape, axes
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, gy):
        return _expand(gy, ctx.shape, ctx.axes), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes = x.shape, axes
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, gy):
        return _expand(gy / _count(ctx.shape, ctx.axes), ctx.shape, ctx.axes), None, None


class Var(Function):
    """Variance with divisor ``n - ddof``; of a complex tensor, the mean squared modulus (real), as PyTorch's."""

    centered = None  # kept from forward for the fast backward; a recorded one recomputes it from x

    @staticmethod
    def forward(ctx, x, axes, ddof, keepdims):
        centered = x - x.mean(axis=axes, keepdims=True)
        # NumPy's divisor, max(n - ddof, 0): ddof >= n gives inf (or NaN), never a negative variance
        ctx.axes, ctx.divisor, ctx.centered = axes, builtins.max(_count(x.shape, axes) - ddof, 0), centered
        ctx.save_for_backward(x)
        squares = (centered * centered.conj()).real if x.dtype.kind == "c" else centered * centered
        return squares.sum(axis=axes, keepdims=keepdims) / ctx.divisor

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        # recorded: the centering recomputed from the graph's x, so that it is differentiated too
        centered = x - x.mean(axis=ctx.axes, keepdims=True) if is_tensor(x) else ctx.centered
        # the mean's own gradient term vanishes: the centered values sum to zero along the axes
        scale = 2 / ctx.divisor if ctx.divisor else math.inf
        return _expand(gy, x.shape, ctx.axes) * centered * scale, None, None, None

    def _release(self):
        super()._release()
        self.centered = None


class Extremum(Function):
    """max or min; ties share the gradient equally (PyTorch's amax and amin)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims, largest):
        y = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        ctx.axes, ctx.largest = axes, largest
        # the input only: the output may be changed in place later (SciPy's log_softmax clears its max's
        # non-finite entries), which must neither refuse nor change this gradient
        ctx.save_for_backward(x)
        return y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        x = values_of(x)  # where the extremum was is a constant of the gradient
        hit = x == (x.max(axis=ctx.axes, keepdims=True) if ctx.largest else x.min(axis=ctx.axes, keepdims=True))
        share = hit / hit.sum(axis=ctx.axes, keepdims=True, dtype=gy.dtype)
        return _expand(gy, x.shape, ctx.axes) * share, None, None, None


def _axes_last(x, axes):
    """``x`` with the ``axes`` moved to the end and merged into one, and the permutation used."""
    order = [a for a in range(x.ndim) if a not in axes] + list(axes)
    moved = namespace_of(x).transpose(x, order)
    return moved.reshape([x.shape[a] for a in order[:x.ndim - len(axes)]] + [_count(x.shape, axes)]), order


def _axes_back(flat, shape, order):
    """Undo ``_axes_last``."""
    moved = flat.reshape([shape[a] for a in order])
    return namespace_of(flat).transpose(moved, [order.index(a) for a in range(len(shape))])


def _others_product(x, axes):
    """For every element, the product of the other elements along ``axes``; exact where elements are zero."""
    flat, order = _axes_last(x, axes)
    n = flat.shape[-1]
    if is_tensor(x):
        # differentiable again: row i of an (n, n) stack is the elements with the i-th replaced by one
        others = namespace_of(x).where(get_array_module(x.data).eye(n, dtype=bool), 1, flat[..., None, :])
        return _axes_back(others.prod(axis=-1), x.shape, order)
    # the product of those before times the product of those after
    xp = get_array_module(x)
    ones = xp.ones_like(flat[..., :1])
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return _axes_back(before * after, x.shape, order)


class Prod(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.axes = axes
        ctx.save_for_backward(x)
        return x.prod(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return _expand(gy, x.shape, ctx.axes) * conj(_others_product(x, ctx.axes)), None, None


def _in_dtype(x, dtype):
    """``x`` converted to ``dtype`` first (the ``dtype=`` of sum, prod and mean: the op computes in it)."""
    if dtype is None or x.dtype == dtype:
        return x
    from .conversion import astype
    return astype(x, dtype)


def sum(x, axis=None, keepdims=False, *, dtype=None, dim=None, keepdim=None):
    """Sum over ``axis`` (an int or a tuple; all axes when ``None``), computed in ``dtype`` when given."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    if dtype is None:
        return Sum.apply(x, _axes(axis, x.ndim), keepdims)
    return _in_dtype(Sum.apply(_in_dtype(x, dtype), _axes(axis, x.ndim), keepdims), dtype)


def mean(x, axis=None, keepdims=False, *, dtype=None, dim=None, keepdim=None):
    """Arithmetic mean over ``axis``, computed in ``dtype`` when given."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    y = Mean.apply(x if dtype is None else _in_dtype(x, dtype), _axes(axis, x.ndim), keepdims)
    return _in_dtype(y, dtype)  # an integer dtype gives an integer mean, as NumPy's


def variance(x, axis=None, ddof=0, keepdims=False):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom, every argument explicit."""
    return Var.apply(x, _axes(axis, x.ndim), ddof, keepdims)


def _spread_args(name, args, axis, ddof, keepdims, dim, unbiased, correction, keepdim):
    """``(axis, ddof, keepdims)`` of var/std by the call's form: NumPy's ``axis``/``ddof``/``keepdims`` divide by
    ``n - ddof`` (``ddof=0`` by default), PyTorch's ``dim``/``unbiased``/``correction``/``keepdim`` by ``n - 1``
    by default; a call without either raises, naming both readings."""
    if len(args) > 1:
        raise TypeError(f"{name}: give the axis positionally and the rest by keyword (ddof=/keepdims= for NumPy's "
                        f"reading, correction=/keepdim= for PyTorch's), got {len(args)} positional arguments")
    numpy_form = axis is not _GIVEN_NONE or ddof is not None or keepdims is not None
    torch_form = dim is not _GIVEN_NONE or unbiased is not None or keepdim is not None
    axis, dim = (None if a is _GIVEN_NONE else a for a in (axis, dim))
    if numpy_form and torch_form:
        raise TypeError(f"{name}: axis=/ddof=/keepdims= are NumPy's words and dim=/unbiased=/correction=/keepdim= "
                        f"PyTorch's; use one set")
    given = [a for a in (axis, dim) if a is not None] + list(args)
    if len(given) > 1:
        raise TypeError(f"{name}: the axis is given twice")
    degrees = [d for d in (ddof, correction, None if unbiased is None else int(bool(unbiased))) if d is not None]
    if len(degrees) > 1:
        raise TypeError(f"{name}: give one of ddof=, correction= and unbiased=")
    if not degrees and not numpy_form and not torch_form:
        where = f"{args[0]!r}" if args else ""
        sep = ", " if args else ""
        raise TypeError(f"x.{name}({where}) reads two ways: NumPy's {name} divides by n (ddof=0), PyTorch's by n - 1 "
                        f"(correction=1, the unbiased estimate). Say which: x.{name}({where}{sep}ddof=0) for "
                        f"NumPy's, x.{name}({where}{sep}correction=1) for PyTorch's")
    correction = degrees[0] if degrees else (1 if torch_form else 0)
    return (given[0] if given else None), correction, bool(keepdims or keepdim)


_GIVEN_NONE = type("NotGiven", (), {"__repr__": lambda self: "None"})()  # tells axis=None from no axis


def var(x, *args, axis=_GIVEN_NONE, ddof=None, keepdims=None, dim=_GIVEN_NONE, unbiased=None, correction=None,
        keepdim=None):
    """Variance: NumPy's and the Array API's with ``axis=``/``ddof=``/``correction=``/``keepdims=`` (0 by default),
    PyTorch's with ``dim=``/``correction=``/``unbiased=``/``keepdim=`` (unbiased by default); ``x.var()`` alone
    raises, naming both readings."""
    axis, ddof, keepdims = _spread_args("var", args, axis, ddof, keepdims, dim, unbiased, correction, keepdim)
    return variance(x, axis, ddof, keepdims)


def std(x, *args, axis=_GIVEN_NONE, ddof=None, keepdims=None, dim=_GIVEN_NONE, unbiased=None, correction=None,
        keepdim=None):
    """Standard deviation, the square root of ``var`` with the same arguments and the same rule."""
    from .elementwise import sqrt
    axis, ddof, keepdims = _spread_args("std", args, axis, ddof, keepdims, dim, unbiased, correction, keepdim)
    return sqrt(variance(x, axis, ddof, keepdims))


def amax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Largest value over ``axis`` (NumPy's ``max``: values only; ties share the gradient)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return Extremum.apply(x, _nonempty(x, _axes(axis, x.ndim), "max"), keepdims, True)


def amin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Smallest value over ``axis`` (NumPy's ``min``)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return Extremum.apply(x, _nonempty(x, _axes(axis, x.ndim), "min"), keepdims, False)


class ValuesIndices(NamedTuple):
    """PyTorch's ``(values, indices)`` result of ``max``/``min`` along a ``dim``."""
    values: object
    indices: object


def _along(x, dim, keepdim, largest):
    """PyTorch's ``max(dim=)``: the values picked by the arg-extremum, so the gradient goes to that index only."""
    from ..tensor import Tensor
    from .shape import expand_dims
    axis = _one_axis(dim, x.ndim, "max" if largest else "min")
    if not axis:  # a 0-d tensor: itself, at index 0
        return ValuesIndices(x * 1, Tensor(get_array_module(x.data).zeros((), np.int64)))
    axis = axis[0]
    _nonempty(x, (axis,), "max" if largest else "min")
    xp = get_array_module(x.data)
    index = (xp.argmax if largest else xp.argmin)(x.data, axis=axis).astype(np.int64)
    grids = list(xp.ix_(*[xp.arange(n) for n in index.shape])) if index.ndim else []
    grids.insert(axis, index)
    values, indices = x[tuple(grids)], Tensor(index)
    if keepdim:
        values, indices = expand_dims(values, axis), expand_dims(indices, axis)
    return ValuesIndices(values, indices)


def _extremum_either(x, args, axis, keepdims, dim, keepdim, largest):
    """max/min: ``dim=``/``keepdim=`` (PyTorch) give ``(values, indices)``; ``axis=``/``keepdims=`` or a tuple
    (NumPy) give the values; a positional axis alone could be either and raises; a tensor is ``maximum``."""
    from ..tensor import Tensor
    name = "max" if largest else "min"
    if len(args) > 2:
        raise TypeError(f"{name}: at most two positional arguments (an axis and keepdims), got {len(args)}")
    if args and isinstance(args[0], Tensor):
        from .elementwise import maximum, minimum
        if len(args) > 1 or axis is not None or dim is not None:
            raise TypeError(f"{name}(other): the element-wise {name}imum takes no axis")
        return (maximum if largest else minimum)(x, args[0])
    torch_form, numpy_form = dim is not None or keepdim is not None, axis is not None or keepdims is not None
    if torch_form and numpy_form:
        raise TypeError(f"{name}: dim=/keepdim= are PyTorch's words and axis=/keepdims= NumPy's; use one pair")
    position = args[0] if args else None
    flag = args[1] if len(args) > 1 else None
    if torch_form:
        if (dim is not None and position is not None) or (keepdim is not None and flag is not None):
            raise TypeError(f"{name}: the dim or keepdim is given twice")
        dim = position if dim is None else dim
        keepdim = bool(flag if keepdim is None else keepdim)
        if dim is None:
            return (amax if largest else amin)(x, None, keepdim)
        return _along(x, dim, keepdim, largest)
    if position is not None and not numpy_form and not isinstance(position, (tuple, list)):
        raise TypeError(f"x.{name}({', '.join(map(repr, args))}) reads two ways: NumPy's {name} along axis "
                        f"{position!r} gives the values, PyTorch's gives (values, indices). Say which: "
                        f"x.{name}(axis={position!r}) for NumPy's, x.{name}(dim={position!r}) for PyTorch's")
    if (axis is not None and position is not None) or (keepdims is not None and flag is not None):
        raise TypeError(f"{name}: the axis or keepdims is given twice")
    axis = position if axis is None else axis
    keepdims = bool(flag if keepdims is None else keepdims)
    return (amax if largest else amin)(x, axis, keepdims)


def max(x, *args, axis=None, keepdims=None, dim=None, keepdim=None):
    """Largest value: over ``axis`` (NumPy, values), along ``dim`` (PyTorch, ``(values, indices)``), or the
    element-wise maximum with a tensor; ``max(x, 1)`` could be either and raises (see docs/semantics.md)."""
    return _extremum_either(x, args, axis, keepdims, dim, keepdim, True)


def min(x, *args, axis=None, keepdims=None, dim=None, keepdim=None):
    """Smallest value: over ``axis`` (NumPy, values) or along ``dim`` (PyTorch, ``(values, indices)``)."""
    return _extremum_either(x, args, axis, keepdims, dim, keepdim, False)


def prod(x, axis=None, keepdims=False, *, dtype=None, dim=None, keepdim=None):
    """Product over ``axis``, computed in ``dtype`` when given; its gradient is exact when elements are zero."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    # NumPy's product of small integers widens to 64 bits: the result comes back in the dtype asked for
    return _in_dtype(Prod.apply(_in_dtype(x, dtype), _axes(axis, x.ndim), keepdims), dtype)


def _nonempty(x, axes, op):
    if builtins.any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{op} of an empty axis: tensor of shape {x.shape}, axes {axes}")
    return axes


class _Index(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdims, largest):
        xp = get_array_module(x)
        return (xp.argmax if largest else xp.argmin)(x, axis=axis, keepdims=keepdims)


def _index_axis(x, axis, op):
    """``None`` (the flattened tensor) or one non-negative axis."""
    if axis is None:
        return None
    axes = _one_axis(axis, x.ndim, op)
    return axes[0] if axes else None


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the largest value along ``axis`` (of the flattened tensor when ``None``)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return _Index.apply(x, _index_axis(x, axis, "argmax"), keepdims, True)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the smallest value along ``axis``."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return _Index.apply(x, _index_axis(x, axis, "argmin"), keepdims, False)


class _Truth(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims, every):
        return x.all(axis=axes, keepdims=keepdims) if every else x.any(axis=axes, keepdims=keepdims)


def all(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Whether every element along ``axis`` is true."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return _Truth.apply(x, _axes(axis, x.ndim), keepdims, True)


def any(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Whether some element along ``axis`` is true."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return _Truth.apply(x, _axes(axis, x.ndim), keepdims, False)


# ----- softmax family: shift by the maximum so exp never overflows -----
class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        xp = get_array_module(x)
        y = xp.exp(x - x.max(axis=axis, keepdims=True))
        if x.ndim:
            y /= y.sum(axis=axis, keepdims=True)
        else:  # a 0-d result comes from NumPy as a scalar, which divides into a new one
            y = as_output(y / y)
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return y * (gy - (gy * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = as_output(shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True)))
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy - namespace_of(y).exp(y) * gy.sum(axis=ctx.axis, keepdims=True), None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        xp = get_array_module(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # all -inf: log(0) = -inf is the answer
            y = m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        y = as_output(y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes]))
        ctx.axes = axes
        ctx.save_for_backward(x, y)  # the output itself, so that create_graph finds it in the graph
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        kept = [1 if i in ctx.axes else n for i, n in enumerate(x.shape)]
        return _expand(gy, x.shape, ctx.axes) * namespace_of(x).exp(x - y.reshape(kept)), None, None


def softmax(x, axis=-1, *, dim=None):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
    return Softmax.apply(x, _one_axis(axis if dim is None else dim, x.ndim, "softmax"))


def log_softmax(x, axis=-1, *, dim=None):
    """``log(softmax(x))`` along ``axis``, computed without overflow or log(0)."""
    return LogSoftmax.apply(x, _one_axis(axis if dim is None else dim, x.ndim, "log_softmax"))


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return LogSumExp.apply(x, _axes(axis, x.ndim), keepdims)
