"""The Array API's manipulation functions that move elements without changing them: ``roll``, ``moveaxis``,
``broadcast_arrays``, ``unstack`` and ``repeat``, differentiable to any order."""
import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import namespace_of


def _axes(axis, ndim, op, what="axis"):
    """A tuple of non-negative axes from an int or a sequence, with an error naming the axis and the rank."""
    axes = (axis,) if hasattr(axis, "__index__") else tuple(axis)
    for a in axes:
        if not hasattr(a, "__index__") or not -ndim <= int(a) < ndim:
            raise IndexError(f"{op}: {what} {a!r} is out of range for a tensor with {ndim} dimension(s)")
    return tuple(int(a) % ndim for a in axes)


class Roll(Function):
    """``x`` rolled by ``shift`` along ``axis``."""

    @staticmethod
    def forward(ctx, x, shift, axis):
        ctx.shift, ctx.axis = shift, axis
        return get_array_module(x).roll(x, shift, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        # rolling back is the adjoint of rolling
        back = tuple(-s for s in ctx.shift) if isinstance(ctx.shift, tuple) else -ctx.shift
        return namespace_of(gy).roll(gy, back, axis=ctx.axis), None, None


def roll(x, /, shift, *, axis=None):
    """Elements shifted by ``shift`` along ``axis`` (an int or tuple; ``None`` rolls the flattened tensor), those
    pushed off one end coming back at the other."""
    if axis is None:
        if not hasattr(shift, "__index__"):
            raise TypeError(f"roll: without an axis the shift must be one int, not {shift!r}")
        return Roll.apply(x, int(shift), None)
    axes = _axes(axis, x.ndim, "roll")
    shifts = (shift,) * len(axes) if hasattr(shift, "__index__") else tuple(shift)
    if len(shifts) != len(axes) or not all(hasattr(s, "__index__") for s in shifts):
        raise ValueError(f"roll: shift {shift!r} needs one int per axis of {axis!r}")
    return Roll.apply(x, tuple(int(s) for s in shifts), axes)


class MoveAxis(Function):
    """``x`` with the axes ``source`` moved to ``destination`` (a view)."""

    is_view = True

    @staticmethod
    def forward(ctx, x, source, destination):
        ctx.source, ctx.destination = source, destination
        return get_array_module(x).moveaxis(x, source, destination)

    @staticmethod
    def backward(ctx, gy):
        return namespace_of(gy).moveaxis(gy, ctx.destination, ctx.source), None, None


def moveaxis(x, source, destination, /):
    """The axes ``source`` (an int or tuple) moved to the places ``destination``; the others keep their order."""
    source = _axes(source, x.ndim, "moveaxis", "source axis")
    destination = _axes(destination, x.ndim, "moveaxis", "destination axis")
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes {source} but {len(destination)} destinations "
                         f"{destination}")
    if len(set(source)) != len(source) or len(set(destination)) != len(destination):
        raise ValueError(f"moveaxis: axes repeat in source {source} or destination {destination}")
    return MoveAxis.apply(x, source, destination)


def broadcast_arrays(*arrays):
    """The tensors broadcast against each other, as a list (the standard's form) of read-only views."""
    from ..creation import as_tensor
    from ..tensor import Tensor
    from .shape import broadcast_to
    tensors = [a if isinstance(a, Tensor) else as_tensor(a) for a in arrays]
    try:
        shape = np.broadcast_shapes(*[t.shape for t in tensors])
    except ValueError:
        raise ValueError(f"broadcast_arrays: shapes {[t.shape for t in tensors]} do not broadcast together") from None
    return [broadcast_to(t, shape) for t in tensors]


class Unstack(Function):
    """The slices of ``x`` along ``axis`` (views)."""

    is_view = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        lead = (slice(None),) * axis
        return tuple(x[lead + (i,)] for i in range(x.shape[axis]))

    @staticmethod
    def backward(ctx, *gys):
        # stacking is the adjoint of unstacking (pieces that got no gradient come as zeros)
        return namespace_of(*gys).stack(gys, axis=ctx.axis), None


def unstack(x, /, *, axis=0):
    """The slices of ``x`` along ``axis``, as a tuple of views (``torch.unbind``)."""
    if x.ndim == 0:
        raise ValueError("unstack needs a tensor of at least one dimension, got a 0-d tensor")
    result = Unstack.apply(x, _axes(axis, x.ndim, "unstack")[0])
    return result if isinstance(result, tuple) else (result,)


def repeat(x, repeats, /, *, axis=None):
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened tensor for ``None``): an int, or
    one count per element as a list, array or integer tensor (one count broadcasts)."""
    from ..tensor import Tensor
    from .shape import repeat as repeat_each, reshape
    from .take import take
    if isinstance(repeats, Tensor):
        repeats = repeats.numpy() if repeats.ndim else int(repeats.item())
    counts = np.asarray(repeats)
    if counts.ndim > 1 or (counts.size and counts.dtype.kind not in "iu") or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be a non-negative int or a 1-D sequence of them, got {repeats!r}")
    if axis is not None:
        axis = _axes(axis, max(x.ndim, 1), "repeat")[0]
    if counts.ndim == 0 or counts.size == 1:
        return repeat_each(x, int(counts.reshape(-1)[0]), axis)  # its backward sums an axis of copies
    if axis is None or x.ndim == 0:
        x, axis = reshape(x, -1), 0
    if counts.size != x.shape[axis]:
        raise ValueError(f"repeat: {counts.size} repeat counts for {x.shape[axis]} elements along axis {axis} of "
                         f"a tensor of shape {x.shape}")
    # each copy reads the element it repeats: a take, whose adjoint adds the copies' gradients back
    owners = np.repeat(np.arange(counts.size), counts.astype(np.int64))
    return take(x, get_array_module(x.data).asarray(owners), axis=axis)

