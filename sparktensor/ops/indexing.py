"""Indexing: slices, ints, ``None``, ``...``, integer arrays and boolean masks; differentiable."""
import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import differentiable, is_tensor, sum_to


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


def _has_int_array(index):
    for i in index:
        if i.__class__ is not slice and hasattr(i, "dtype") and i.dtype.kind in "iu":
            return True
    return False


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, gy):
        return differentiable(IndexPut, gy, ctx.shape, ctx.index), None


class _View(GetItem):
    is_view = True


class IndexPut(Function):
    """Zeros of ``shape`` with ``g`` added at ``index``: the adjoint of ``x[index]`` (and its backward is
    ``x[index]`` again), so the gradients of indexing, gather and padding stay differentiable."""

    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        xp = get_array_module(g)
        out = xp.zeros(shape, g.dtype)
        if _has_int_array(index):
            # integer arrays may repeat an index, and repeats must add up: scatter-add rather than assign
            xp.add.at(out, index, g)
        else:
            out[index] = g
        return out

    @staticmethod
    def backward(ctx, gg):
        return gg[ctx.index], None, None  # a Tensor's [] is GetItem


def getitem(x, index):
    """``x[index]`` with NumPy semantics; basic indexing gives a view."""
    index = _raw_index(index, x.data)
    _check_bounds(x.data, index)
    return (_View if _is_basic(index) else GetItem).apply(x, index)


class SetItem(Function):
    """``x[index] = value`` written into ``x``'s array: the overwritten region passes no gradient back to the old
    ``x``, and ``value`` gets the gradient of the region (summed over the axes it was broadcast along)."""

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.index = index
        ctx.value_meta = (getattr(value, "shape", ()), getattr(value, "dtype", None))
        x[index] = value
        return x

    @staticmethod
    def backward(ctx, gy):
        gx = zeroed_at(gy, ctx.index)
        shape, dtype = ctx.value_meta
        gv = None
        if ctx.needs_input_grad[1]:
            gv = sum_to(gy[ctx.index], shape)
            gv = gv if gv.dtype == dtype else gv.astype(dtype)
        return gx, gv, None


def zeroed_at(g, index):
    """``g`` with zeros at ``index`` (a gradient that an overwrite stops), built without writing into ``g``."""
    if not is_tensor(g):
        out = g.copy()
        out[index] = 0
        return out
    keep = get_array_module(g.data).ones(g.shape, bool)  # a constant: where the gradient passes
    keep[index] = False
    return g * keep


def setitem(x, index, value):
    """``x[index] = value`` in place. Under grad mode, a computed tensor (or one that takes a value requiring
    grad) records the assignment, as PyTorch does; a leaf that requires grad refuses it."""
    from ..autograd.grad_mode import is_grad_enabled
    from ..tensor import Tensor
    grad_value = isinstance(value, Tensor) and value.requires_grad
    recorded = is_grad_enabled() and (x.requires_grad or grad_value)
    if recorded and x.requires_grad and x.is_leaf:
        raise RuntimeError(f"item assignment into a leaf tensor that requires grad (shape {x.shape}) would corrupt "
                           f"its gradient; build a new tensor with st.where(mask, value, x), or assign into a copy "
                           f"that stays in the graph (y = x.clone(); y[...] = value); to change the leaf's values "
                           f"outside the graph (initialization), assign under st.no_grad()")
    if recorded and (getattr(x.grad_fn, "is_view", False) or (not x.requires_grad and x.data.base is not None)):
        raise RuntimeError(f"item assignment of a value that requires grad into a view (shape {x.shape}): the "
                           f"tensor it views would change without recording it; assign into that tensor itself, "
                           f"or into a .clone() of the view")
    index = _raw_index(index, x.data)
    raw = value.data if isinstance(value, Tensor) else value
    backend.check_same_device("item assignment", [x.data, raw])
    _check_bounds(x.data, index)
    try:
        if recorded:
            out = SetItem.apply(x, value if grad_value else raw, index)
            # x itself becomes the output of the assignment (its array was written in place)
            x._node, x._index, x._requires_grad = out._node, 0, out._requires_grad
        else:
            x.data[index] = raw
    except IndexError as e:
        raise IndexError(f"assigning into a tensor of shape {x.shape}: {e}") from None
    x._bump_version()
