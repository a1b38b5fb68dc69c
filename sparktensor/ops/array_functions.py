"""The Array API's manipulation, searching, set, indexing and cumulative functions that sparktensor adds, and
their NumPy spellings (``np.roll(t, 1)`` gives a tensor that keeps the graph).

Each family lives in its own module: ``rearrange`` (roll, moveaxis, broadcast_arrays, unstack, repeat), ``take``,
``cumulative`` (cumulative_sum, cumulative_prod, cumprod, diff), ``searching`` (nonzero, count_nonzero,
searchsorted) and ``sets`` (the unique_* functions). Gradients are differentiable again (``create_graph=True``);
indices, counts and the unique_* results have none.
"""
import numpy as np

from .cumulative import cumprod, cumulative_prod, cumulative_sum, diff
from .rearrange import broadcast_arrays, moveaxis, roll, unstack
from .rearrange import repeat as _repeat
from .searching import count_nonzero, nonzero, searchsorted
from .sets import unique_all, unique_counts, unique_inverse, unique_values
from .take import take, take_along_axis

__all__ = ["broadcast_arrays", "count_nonzero", "cumprod", "cumulative_prod", "cumulative_sum", "diff", "moveaxis",
           "nonzero", "repeat", "roll", "searchsorted", "take", "take_along_axis", "unique_all", "unique_counts",
           "unique_inverse", "unique_values", "unstack"]


def repeat(x, repeats, axis=None):
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened tensor for ``None``): an int, or
    one count per element as a list, array or integer tensor (one count broadcasts)."""
    return _repeat(x, repeats, axis=axis)


# ----- NumPy's spellings, for __array_function__ -----
_UNSET = object()


def _tensor(x):
    from ..creation import as_tensor
    from ..tensor import Tensor
    return x if isinstance(x, Tensor) else as_tensor(np.asarray(x))


def _no_out(name, out, **given):
    """TypeError for NumPy arguments that have no tensor meaning here."""
    bad = (["out"] if out is not None else []) + sorted(k for k, v in given.items() if v is not _UNSET)
    if bad:
        raise TypeError(f"numpy.{name}: argument(s) {', '.join(bad)} are not supported for tensors")


def _running(op, name):
    """``np.cumsum`` and ``np.cumprod``: ``(a, axis, dtype, out)``; ``axis=None`` runs over the flattened tensor."""
    def numpy_running(a, axis=None, dtype=None, out=None):
        from .shape import reshape
        _no_out(name, out)
        a = _tensor(a)
        if axis is None:
            a, axis = reshape(a, -1), 0
        return op(a, axis=axis, dtype=dtype)
    return numpy_running


def _cumulative(op, name):
    """``np.cumulative_sum`` and ``np.cumulative_prod``: the standard's form plus ``out``."""
    def numpy_cumulative(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        _no_out(name, out)
        return op(_tensor(x), axis=axis, dtype=dtype, include_initial=include_initial)
    return numpy_cumulative


def _take(a, indices, axis=None, out=None, mode="raise"):
    _no_out("take", out, mode=_UNSET if mode == "raise" else mode)
    return take(_tensor(a), indices, axis=axis)


def _diff(a, n=1, axis=-1, prepend=None, append=None):
    return diff(_tensor(a), n=n, axis=axis, prepend=prepend, append=append)


def _tensors(result):
    """``result`` with each array in it (alone or in a tuple or named tuple) made a tensor; scalars stay."""
    from ..tensor import Tensor
    if isinstance(result, tuple):
        items = [_tensors(r) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    return Tensor(result) if hasattr(result, "shape") and not isinstance(result, np.generic) else result


def _on_data(name):
    """NumPy's (or CuPy's) own ``name`` run on the tensors' data, with tensors for the arrays it answers: its
    answer is indices, counts or distinct values, which carry no gradient (as ``torch.unique``'s), so it works on
    tensors that require grad too and answers with NumPy's types (a count of everything is a number)."""
    from ..backend import get_array_module
    from ..tensor import Tensor

    def numpy_on_data(*args, **kwargs):
        values = [a.data if isinstance(a, Tensor) else a for a in args]
        kwargs = {k: v.data if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        return _tensors(getattr(get_array_module(*values), name)(*values, **kwargs))
    return numpy_on_data


NUMPY_FUNCTIONS = {  # NumPy function -> differentiable implementation, for __array_function__
    np.roll: lambda a, shift, axis=None: roll(_tensor(a), shift, axis=axis),
    np.moveaxis: lambda a, source, destination: moveaxis(_tensor(a), source, destination),
    np.broadcast_arrays: lambda *args, subok=False: tuple(broadcast_arrays(*args)),
    np.unstack: lambda x, /, *, axis=0: unstack(_tensor(x), axis=axis),
    np.repeat: lambda a, repeats, axis=None: repeat(_tensor(a), repeats, axis),
    np.take: _take,
    np.take_along_axis: lambda arr, indices, axis=-1: take_along_axis(_tensor(arr), indices, axis=axis),
    np.cumsum: _running(cumulative_sum, "cumsum"), np.cumprod: _running(cumulative_prod, "cumprod"),
    np.cumulative_sum: _cumulative(cumulative_sum, "cumulative_sum"),
    np.cumulative_prod: _cumulative(cumulative_prod, "cumulative_prod"),
    np.diff: _diff,
    np.nonzero: _on_data("nonzero"), np.count_nonzero: _on_data("count_nonzero"),
    np.searchsorted: _on_data("searchsorted"), np.unique: _on_data("unique"),
    np.unique_all: unique_all, np.unique_counts: unique_counts,
    np.unique_inverse: unique_inverse, np.unique_values: unique_values,
}
NUMPY_UFUNCS = {}  # NumPy ufunc name -> differentiable implementation, for __array_ufunc__
