"""Indexing: slices, ints, ``None``, ``...``, integer arrays and boolean masks; differentiable."""
import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module


def _raw_index(index):
    """The index with tensors replaced by their arrays and lists by arrays."""
    from ..tensor import Tensor
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, list):
            i = np.asarray(i)
        out.append(i)
    return tuple(out)


def _is_basic(index):
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in index)


def _check_bounds(x, index):
    """NumPy checks integer-array indices; CuPy wraps them silently, so check them here."""
    if type(x) is np.ndarray:
        return
    axis = 0
    for i in index:
        if i is None:
            continue
        if i is Ellipsis:
            axis = x.ndim - sum(1 for j in index if j is not None and j is not Ellipsis)
            continue
        if hasattr(i, "dtype") and i.dtype.kind in "iu" and i.size:
            size = x.shape[axis]
            low, high = int(i.min()), int(i.max())
            if low < -size or high >= size:
                bad = high if high >= size else low
                raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {size}")
        axis += i.ndim if hasattr(i, "dtype") and i.dtype.kind == "b" else 1


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        _check_bounds(x, index)
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(ctx.shape, ctx.dtype)
        if _is_basic(ctx.index):
            gx[ctx.index] = gy
        else:
            # repeated indices must add up, so scatter-add rather than assign
            xp.add.at(gx, ctx.index, gy)
        return gx, None


class _View(GetItem):
    is_view = True


def getitem(x, index):
    """``x[index]`` with NumPy semantics; basic indexing gives a view."""
    index = _raw_index(index)
    return (_View if _is_basic(index) else GetItem).apply(x, index)


def setitem(x, index, value):
    """``x[index] = value`` in place; allowed on tensors that do not require grad (or under no_grad)."""
    from ..tensor import Tensor
    from .. import backend
    x._check_inplace("item assignment")
    index = _raw_index(index)
    value = value.data if isinstance(value, Tensor) else value
    backend.check_same_device("item assignment", [x.data, value])
    _check_bounds(x.data, index)
    try:
        x.data[index] = value
    except IndexError as e:
        raise IndexError(f"assigning into a tensor of shape {x.shape}: {e}") from None
    x._bump_version()
