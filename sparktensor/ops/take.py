"""The Array API's ``take`` and ``take_along_axis``: a tensor read at integer indices along one axis.

Reading at an index and adding into zeros at that index are each other's adjoints, indexing's pair of Functions
whose backwards are each other (``GetItem`` and ``IndexPut``): gradients of any order stay in the graph.
"""
import numpy as np

from ..backend import get_array_module
from .indexing import GetItem, IndexPut


def gather_at(x, where):
    """``x[where]``, differentiable to any order (``where`` a tuple of slices, ints and integer arrays)."""
    return GetItem.apply(x, where)


def scatter_add_at(g, where, shape):
    """Zeros of ``shape`` with ``g`` added at ``where``, differentiable to any order."""
    return IndexPut.apply(g, tuple(shape), where)


def axis_slice(ndim, axis, start=None, stop=None):
    """The index tuple ``[:, ..., start:stop, ...]`` that slices ``axis`` of an ``ndim``-d array."""
    return (slice(None),) * axis + (slice(start, stop),) + (slice(None),) * (ndim - axis - 1)


# ----- take and take_along_axis -----
def index_values(indices, x, op):
    """The integer array under ``indices`` (a tensor, array or list), on the device of ``x``."""
    from ..tensor import Tensor
    from ..creation import as_array
    xp = get_array_module(x.data)
    raw = indices.data if isinstance(indices, Tensor) else as_array(indices)
    if raw.dtype.kind not in "iu" and not (raw.size == 0 and raw.dtype.kind == "f"):
        raise TypeError(f"{op}: indices must hold integers, not {raw.dtype}; convert them with .astype(st.int64)")
    return xp.asarray(raw).astype(np.int64, copy=False)


def within(index, n, axis, shape, op):
    """``index`` with negative entries counted from the end; IndexError naming the first one out of range."""
    if index.size:
        low, high = int(index.min()), int(index.max())
        if low < -n or high >= n:
            bad = low if low < -n else high
            raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {n} (tensor of shape "
                             f"{tuple(shape)})")
        if low < 0:
            index = get_array_module(index).where(index < 0, index + n, index)
    return index


def _axis(axis, ndim, op):
    if not hasattr(axis, "__index__"):
        raise TypeError(f"{op}: axis must be an int or None, not {axis!r}")
    if not -ndim <= int(axis) < ndim:
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimension(s)")
    return int(axis) % ndim


def take(x, indices, /, *, axis=None):
    """The entries of ``x`` at ``indices`` along ``axis`` (of the flattened tensor for ``None``); the result has
    ``indices``' shape in place of that axis, as NumPy's ``take``. Negative indices count from the end."""
    from .shape import reshape
    index = index_values(indices, x, "take")
    if axis is None:
        x, axis = (reshape(x, -1) if x.ndim != 1 else x), 0
    elif x.ndim == 0:
        raise IndexError(f"take: axis {axis} is out of range for a 0-d tensor; use axis=None")
    axis = _axis(axis, x.ndim, "take")
    index = within(index, x.shape[axis], axis, x.shape, "take")
    return gather_at(x, (slice(None),) * axis + (index,))


def take_along_axis(x, indices, /, *, axis=-1):
    """``out[..., j, ...] = x[..., indices[..., j, ...], ...]`` along ``axis``; ``indices`` has ``x``'s rank and
    the two broadcast on the other axes (``axis=None`` reads the flattened tensor at 1-D indices)."""
    from .shape import broadcast_to, reshape
    index = index_values(indices, x, "take_along_axis")
    if axis is None:
        if index.ndim != 1:
            raise ValueError(f"take_along_axis: axis=None needs 1-D indices, not of shape {index.shape}")
        x, axis = reshape(x, -1), 0
    if index.ndim != x.ndim or x.ndim == 0:
        raise ValueError(f"take_along_axis: indices of shape {index.shape} need the rank of the tensor (shape "
                         f"{x.shape}), which must be at least 1")
    axis = _axis(axis, x.ndim, "take_along_axis")
    rest = lambda shape: shape[:axis] + (1,) + shape[axis + 1:]  # noqa: E731
    try:
        common = np.broadcast_shapes(rest(x.shape), rest(index.shape))
    except ValueError:
        raise ValueError(f"take_along_axis: a tensor of shape {x.shape} and indices of shape {index.shape} do not "
                         f"broadcast on the axes other than {axis}") from None
    x_shape = common[:axis] + (x.shape[axis],) + common[axis + 1:]
    if x.shape != x_shape:
        x = broadcast_to(x, x_shape)
    index = within(index, x.shape[axis], axis, x.shape, "take_along_axis")
    xp = get_array_module(index)
    out_shape = common[:axis] + (index.shape[axis],) + common[axis + 1:]
    where = tuple(xp.broadcast_to(index, out_shape) if d == axis else
                  xp.arange(n).reshape((1,) * d + (n,) + (1,) * (x.ndim - d - 1))
                  for d, n in enumerate(out_shape))
    return gather_at(x, where)

