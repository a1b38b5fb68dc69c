"""Indexing: slices, ints, ``None``, ``...``, integer arrays and boolean masks; differentiable."""
import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module


def _raw_index(index, x):
    """The index with tensors replaced by their arrays, lists by arrays, and arrays moved to the device of ``x``."""
    from ..tensor import Tensor
    if not isinstance(index, tuple):
        index = (index,)
    device = backend.device_of(x)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, list):
            i = np.asarray(i)
            if i.size == 0:
                i = i.astype(np.intp)  # x[[]] selects nothing, as in NumPy
        if hasattr(i, "dtype") and hasattr(i, "shape") and backend.device_of(i) != device:
            i = backend.to_device(i, device)
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
            axis = x.ndim - sum(_axes_taken(j) for j in index if j is not None and j is not Ellipsis)
            continue
        if hasattr(i, "dtype") and i.dtype.kind in "iu" and i.size:
            size = x.shape[axis]
            low, high = int(i.min()), int(i.max())
            if low < -size or high >= size:
                bad = high if high >= size else low
                raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {size}")
        axis += _axes_taken(i)


def _axes_taken(i):
    """How many axes of the indexed array one index entry consumes (a boolean mask: its ndim)."""
    return i.ndim if hasattr(i, "dtype") and i.dtype.kind == "b" else 1


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
        if any(hasattr(i, "dtype") and i.dtype.kind in "iu" for i in ctx.index):
            # integer arrays may repeat an index, and repeats must add up: scatter-add rather than assign
            xp.add.at(gx, ctx.index, gy)
        else:
            gx[ctx.index] = gy
        return gx, None


class _View(GetItem):
    is_view = True


def getitem(x, index):
    """``x[index]`` with NumPy semantics; basic indexing gives a view."""
    index = _raw_index(index, x.data)
    return (_View if _is_basic(index) else GetItem).apply(x, index)


def setitem(x, index, value):
    """``x[index] = value`` in place; allowed on tensors that do not require grad (or under no_grad)."""
    from ..autograd.grad_mode import is_grad_enabled
    from ..tensor import Tensor
    x._check_inplace("item assignment")
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        raise RuntimeError(f"item assignment: the value (shape {value.shape}) requires grad but the tensor it is "
                           f"written into (shape {x.shape}) keeps no graph, so its gradient would be lost; build "
                           f"the result with st.where, st.cat or st.stack, or assign value.detach()")
    index = _raw_index(index, x.data)
    value = value.data if isinstance(value, Tensor) else value
    backend.check_same_device("item assignment", [x.data, value])
    _check_bounds(x.data, index)
    try:
        x.data[index] = value
    except IndexError as e:
        raise IndexError(f"assigning into a tensor of shape {x.shape}: {e}") from None
    x._bump_version()
