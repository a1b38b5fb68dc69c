"""Shape operations: views, joins, splits, padding, flips and repeats."""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import differentiable, namespace_of, normalize_axis, sum_to
from .indexing import GetItem, IndexPut


def _sizes(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


class Reshape(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.shape), None


class Transpose(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return get_array_module(x).transpose(x, axes)

    @staticmethod
    def backward(ctx, gy):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return namespace_of(gy).transpose(gy, inverse), None


class BroadcastTo(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return get_array_module(x).broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, gy):
        # sum is the adjoint of broadcasting
        return sum_to(gy, ctx.shape), None


def reshape(x, /, shape, *sizes, copy=None):
    """The same elements in a new shape (one dimension may be -1), given as ``reshape(x, (2, 3))``,
    ``reshape(x, shape=(2, 3))`` or ``reshape(x, 2, 3)``; ``copy=True`` always copies, ``copy=False`` raises where
    the new shape cannot be a view (the Array API's ``copy``)."""
    shape = _sizes((shape, *sizes))
    out = Reshape.apply(x, tuple(int(s) for s in shape))
    if copy:
        from .conversion import clone
        return clone(out)
    if copy is False and out.size and not get_array_module(x.data).may_share_memory(out.data, x.data):
        raise ValueError(f"reshape(copy=False): a tensor of shape {x.shape} with its strides cannot be viewed as "
                         f"shape {out.shape}; allow a copy with copy=None")
    return out


view = reshape


def transpose(x, *axes):
    """PyTorch's ``transpose(x, a, b)`` swaps two axes at every rank; NumPy's ``transpose(x)`` reverses them and
    ``transpose(x, perm)`` (a tuple or list) or ``transpose(x, *perm)`` with one entry per axis permutes them.

    Two separate ints always swap, even on a 2-D tensor (where NumPy would read ``(0, 1)`` as the identity
    permutation): spell a permutation that may have two entries as a tuple, or with ``permute``.
    """
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        perm = tuple(axes[0])
        if len(perm) != x.ndim:
            raise ValueError(f"transpose: the permutation {perm} (a tuple: NumPy's reading) needs one entry per axis "
                             f"of a tensor of shape {x.shape}; to swap two axes write transpose(a, b) or swapaxes")
        return permute(x, perm)
    if not axes:
        return Transpose.apply(x, tuple(range(x.ndim))[::-1])
    if len(axes) == 2:
        return swapaxes(x, *axes)
    return permute(x, axes)


def permute_dims(x, axes):
    """The Array API's name of ``permute``: the axes reordered as ``axes``, one entry per axis."""
    return permute(x, tuple(axes))


def permute(x, *axes):
    """Reorder the axes: ``permute(x, 2, 0, 1)``."""
    axes = normalize_axis(_sizes(axes), x.ndim)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of a tensor of shape {x.shape}")
    return Transpose.apply(x, axes)


def swapaxes(x, axis1, axis2):
    """Swap two axes."""
    a, b = normalize_axis((axis1, axis2), x.ndim)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose.apply(x, tuple(axes))


def squeeze(x, axis=None, *, dim=None):
    """Remove axes of size 1 (all of them, or those in ``axis``)."""
    axis = axis if dim is None else dim
    if axis is None:
        axes = [a for a, n in enumerate(x.shape) if n == 1]
    else:
        axes = normalize_axis(axis, x.ndim)
        # a 0-d tensor accepts axis 0, as in PyTorch, and stays as it is
        wrong = [a for a in axes if a < x.ndim and x.shape[a] != 1]
        if wrong:
            raise ValueError(f"squeeze: axis {wrong[0]} of a tensor of shape {x.shape} has size {x.shape[wrong[0]]}, not 1")
    return reshape(x, [n for a, n in enumerate(x.shape) if a not in axes])


def expand_dims(x, axis=0):
    """Insert axes of size 1 at ``axis`` (an int or tuple) of the result."""
    ndim = x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    axes = normalize_axis(axis, ndim)
    shape = iter(x.shape)
    return reshape(x, [1 if a in axes else next(shape) for a in range(ndim)])


unsqueeze = expand_dims


def broadcast_to(x, shape):
    """A view repeated along axes of size 1 (and new leading axes) to ``shape``."""
    return BroadcastTo.apply(x, tuple(int(s) for s in _sizes((shape,))))


def expand(x, *sizes):
    """``broadcast_to`` where -1 keeps a dimension."""
    sizes = _sizes(sizes)
    lead = len(sizes) - x.ndim
    return broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes from ``start_dim`` to ``end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = normalize_axis((start_dim, end_dim), x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of shape "
                         f"{x.shape}")
    merged = math.prod(x.shape[start:end + 1])  # not -1: (0, 16, 5, 5) to (0, 400) is ambiguous to it
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.meta = [(x.shape[axis], x.dtype) for x in xs]
        try:
            return get_array_module(*xs).concatenate(xs, axis=axis)
        except ValueError:
            raise ValueError(f"concatenate along axis {axis}: shapes {[x.shape for x in xs]} differ off that axis") from None

    @staticmethod
    def backward(ctx, gy):
        lead = (slice(None),) * ctx.axis
        bounds = np.cumsum([0] + [n for n, _ in ctx.meta]).tolist()
        parts = [differentiable(Slice, gy, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]
        return tuple(p if p.dtype == dtype else p.astype(dtype) for p, (_, dtype) in zip(parts, ctx.meta))


def concatenate(tensors, axis=0, *, dim=None):
    """Join tensors along an existing axis; ``axis=None`` joins them flattened (NumPy's and the Array API's)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    axis = axis if dim is None else dim
    if axis is None:
        tensors, axis = [reshape(t, -1) for t in tensors], 0
    zero_d = [t.shape for t in tensors if t.ndim == 0]
    if zero_d:
        raise ValueError("concatenate: 0-d tensors have no axis to join along; stack them, or pass axis=None")
    ndims = {t.ndim for t in tensors}
    if len(ndims) > 1:
        raise ValueError(f"concatenate: all tensors need the same number of dimensions, got shapes "
                         f"{[tuple(t.shape) for t in tensors]}")
    return Concatenate.apply(*tensors, axis=normalize_axis(axis, tensors[0].ndim)[0])


cat = concat = concatenate


def stack(tensors, axis=0, *, dim=None):
    """Join tensors of one shape along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    axis = axis if dim is None else dim
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


class Slice(GetItem):
    """``x[index]`` for a tuple of slices (a view); used by split and chunk. Its backward puts the gradient into
    zeros (``IndexPut``), whose backward is this slice again."""
    is_view = True


def _pieces(x, axis, bounds):
    axis = normalize_axis(axis, x.ndim)[0]
    lead = (slice(None),) * axis
    return [Slice.apply(x, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def split(x, sections, *position, axis=None, dim=None):
    """Split along one axis, read as the call says: ``axis=`` is NumPy's split (an int gives that many equal
    pieces, a list the split points), ``dim=`` PyTorch's (an int gives pieces of that size, the last smaller; a
    list the pieces' sizes). Positionally (``x.split(2)``, ``st.split(x, [1, 3], 1)``) it is the one reading
    that accepts the arguments, or both where they give the same pieces; otherwise an error names both."""
    if len(position) > 1 or position and (axis is not None or dim is not None) or axis is not None and dim is not None:
        raise TypeError("split takes one axis: split(x, sections, axis) positionally, or axis= (NumPy's reading) "
                        "or dim= (PyTorch's)")
    if axis is not None:
        return numpy_split(x, sections, axis)
    if dim is not None:
        return torch_split(x, sections, dim)
    where = position[0] if position else 0
    where = normalize_axis(where, x.ndim)[0]
    numpy_bounds, torch_bounds = _numpy_bounds(x.shape[where], sections), _torch_bounds(x.shape[where], sections)
    if torch_bounds is None or numpy_bounds == torch_bounds:
        return numpy_split(x, sections, where)
    if numpy_bounds is None:
        return torch_split(x, sections, where)
    raise TypeError(f"split({sections}) along axis {where} of size {x.shape[where]} reads two ways: NumPy's split "
                    f"cuts at {numpy_bounds[1:-1]} ({len(numpy_bounds) - 1} pieces), PyTorch's at {torch_bounds[1:-1]} "
                    f"({len(torch_bounds) - 1} pieces). Say which: axis={where} for NumPy's (as np.split), dim={where} "
                    f"for PyTorch's (as torch.split)")


def _numpy_bounds(n, sections):
    """The piece bounds of NumPy's split of ``n`` elements, or None where it refuses ``sections``."""
    if isinstance(sections, (int, np.integer)):
        return None if sections <= 0 or n % sections else [n // sections * i for i in range(int(sections) + 1)]
    return [0] + [min(max(int(i) if int(i) >= 0 else n + int(i), 0), n) for i in sections] + [n]


def _torch_bounds(n, sections):
    """The piece bounds of PyTorch's split of ``n`` elements, or None where it refuses ``sections``."""
    if isinstance(sections, (int, np.integer)):
        return None if sections <= 0 else list(range(0, n, int(sections))) + [n] if n else [0, 0]
    sizes = [int(s) for s in sections]
    if any(s < 0 for s in sizes) or sum(sizes) != n:
        return None
    return [int(b) for b in np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])]


def torch_split(x, split_size_or_sections, dim=0):
    """PyTorch's split: an int gives pieces of that size (the last smaller), a list the pieces' sizes."""
    dim = normalize_axis(dim, x.ndim)[0]
    bounds = _torch_bounds(x.shape[dim], split_size_or_sections)
    if bounds is None:
        raise ValueError(f"split: {split_size_or_sections} does not split dim {dim} of size {x.shape[dim]} (PyTorch's "
                         f"split takes a positive piece size, or sizes that add up to {x.shape[dim]})")
    return _pieces(x, dim, bounds)


def numpy_split(x, indices_or_sections, axis=0):
    """NumPy's split: an int gives that many equal pieces, a list gives the split points."""
    axis = normalize_axis(axis, x.ndim)[0]
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        indices_or_sections = int(indices_or_sections)
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into {indices_or_sections} equal pieces")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0] + [min(int(i), n) for i in indices_or_sections] + [n]
    return _pieces(x, axis, bounds)


def chunk(x, chunks, axis=0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller), as PyTorch's chunk."""
    axis = normalize_axis(axis, x.ndim)[0]
    if int(chunks) <= 0:
        raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
    n = x.shape[axis]
    if n == 0:
        return _pieces(x, axis, [0] * (int(chunks) + 1))
    size = -(-n // int(chunks))
    return _pieces(x, axis, list(range(0, n, size)) + [n])


class Pad(Function):
    @staticmethod
    def forward(ctx, x, pad_width, mode, constant_values):
        ctx.index = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
        ctx.pad_width, ctx.mode, ctx.shape = pad_width, mode, x.shape
        xp = get_array_module(x)
        if mode == "constant":
            return xp.pad(x, pad_width, mode="constant", constant_values=constant_values)
        return xp.pad(x, pad_width, mode=mode)

    @staticmethod
    def backward(ctx, gy):
        if ctx.mode == "constant":
            return gy[ctx.index], None, None, None
        # padding is separable: along each axis, every padded position adds its gradient to the one it copies
        xp = get_array_module(gy)  # the array module under a Tensor too
        for axis, (width, n) in enumerate(zip(ctx.pad_width, ctx.shape)):
            if any(width):
                source = xp.pad(xp.arange(n), width, mode=ctx.mode)
                shape = gy.shape[:axis] + (n,) + gy.shape[axis + 1:]
                gy = differentiable(IndexPut, gy, shape, (slice(None),) * axis + (source,))
        return gy, None, None, None


_PAD_MODES = ("constant", "reflect", "edge", "wrap", "symmetric")


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad NumPy style: ``pad_width`` is an int, a pair or one pair per axis; ``mode`` one of NumPy's
    ``"constant"``, ``"reflect"``, ``"edge"``, ``"wrap"``, ``"symmetric"``."""
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported; use one of {', '.join(map(repr, _PAD_MODES))}")
    try:
        width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width} does not fit a tensor of shape {x.shape}; give an int, "
                         f"a (before, after) pair or one pair per axis") from None
    if (width < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width}")
    return Pad.apply(x, tuple(map(tuple, width.tolist())), mode, constant_values)


class Flip(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return get_array_module(x).flip(x, axes)

    @staticmethod
    def backward(ctx, gy):
        return namespace_of(gy).flip(gy, ctx.axes), None


def flip(x, axis=None, *, dims=None):
    """Reverse the order of elements along ``axis`` (all axes when ``None``)."""
    return Flip.apply(x, normalize_axis(axis if dims is None else dims, x.ndim))


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, repeats, axis):
        ctx.shape, ctx.repeats, ctx.axis = x.shape, repeats, axis
        return get_array_module(x).repeat(x, repeats, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        xp = get_array_module(gy)
        axis = 0 if ctx.axis is None else ctx.axis
        n = int(np.prod(ctx.shape)) if ctx.axis is None else ctx.shape[axis]
        if isinstance(ctx.repeats, int):
            # the copies of each element are adjacent: view them as an axis of their own and sum it
            split = gy.shape[:axis] + (n, ctx.repeats) + gy.shape[axis + 1:]
            return gy.reshape(split).sum(axis=axis + 1).reshape(ctx.shape), None, None
        # each copy adds its gradient to the element it came from; elements repeated zero times get zero
        owner = xp.asarray(np.repeat(np.arange(n), ctx.repeats))
        shape = gy.shape[:axis] + (n,) + gy.shape[axis + 1:]
        gx = differentiable(IndexPut, gy, shape, (slice(None),) * axis + (owner,))
        return gx.reshape(ctx.shape), None, None


def repeat(x, repeats, axis=None):
    """NumPy's repeat: each element repeated ``repeats`` times along ``axis`` (flattened when ``None``)."""
    if axis is not None:
        axis = normalize_axis(axis, x.ndim)[0]
    n = x.size if axis is None else x.shape[axis]
    counts = np.asarray(repeats.tolist() if hasattr(repeats, "tolist") else repeats)
    if (counts.dtype.kind not in "iu" and counts.size) or counts.ndim > 1 or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be a non-negative int or a list of them, got {repeats}")
    if counts.ndim == 1 and len(counts) not in (1, n):
        raise ValueError(f"repeat: {len(counts)} repeat counts for {n} elements along axis {axis} of a tensor "
                         f"of shape {x.shape}")
    # plain Python values: CuPy takes an int or a list of ints, never an array
    repeats = int(counts.reshape(-1)[0]) if counts.size == 1 else counts.tolist()
    return Repeat.apply(x, repeats, axis)


def _numpy_repeat_shape(x, args):
    """The shape of NumPy's ``x.repeat(*args)``, or ``None`` where NumPy would reject the arguments."""
    if len(args) > 2 or (len(args) == 2 and not (args[1] is None or isinstance(args[1], (int, np.integer)))):
        return None
    axis = args[1] if len(args) == 2 else None
    if axis is not None and not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        return None
    counts = np.asarray(args[0].tolist() if hasattr(args[0], "tolist") else args[0])
    if (counts.dtype.kind not in "iu" and counts.size) or counts.ndim > 1 or (counts < 0).any():
        return None
    n = x.size if axis is None or x.ndim == 0 else x.shape[axis]
    if counts.ndim == 1 and len(counts) not in (1, n):
        return None
    total = int(counts.sum()) if counts.ndim == 1 and len(counts) == n else n * int(counts.reshape(-1)[0])
    if axis is None or x.ndim == 0:
        return (total,)
    axis %= x.ndim
    return x.shape[:axis] + (total,) + x.shape[axis + 1:]


def _torch_repeat_sizes(x, args):
    """PyTorch's ``x.repeat(*sizes)`` (``np.tile``): the sizes, or ``None`` where PyTorch would reject them."""
    sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in sizes) or len(sizes) < x.ndim:
        return None
    return tuple(int(s) for s in sizes)


def repeat_method(x, args, axis=None):
    """``x.repeat``: NumPy's element repeat with ``axis=``; without it, whichever of NumPy's element repeat and
    PyTorch's whole-tensor repeat (``tile``) accepts the arguments, and an error where both do and differ."""
    if axis is not None:
        if len(args) != 1:
            raise TypeError(f"repeat(repeats, axis=...): one repeats argument, got {len(args)}")
        return repeat(x, args[0], axis)
    if not args:
        raise TypeError("repeat needs the number of repeats (NumPy) or one size per axis (PyTorch)")
    numpy_shape = _numpy_repeat_shape(x, args)
    sizes = _torch_repeat_sizes(x, args)
    if sizes is None:
        return repeat(x, *args)
    if numpy_shape is None:
        return tile(x, sizes)
    tile_shape = tuple(s * n for s, n in zip((1,) * (len(sizes) - x.ndim) + x.shape, sizes))
    if x.size <= 1 and len(sizes) == 1 and x.ndim <= 1:
        return tile(x, sizes)  # one element: both readings give the same values
    spelled = ", ".join(str(a) for a in args)
    numpy_call = (f"x.repeat({args[0]}, axis={args[1]})" if len(args) == 2 and args[1] is not None
                  else f"st.repeat(x, {args[0]})")
    raise TypeError(f"x.repeat({spelled}) on a tensor of shape {tuple(x.shape)} reads two ways: PyTorch's repeat "
                    f"copies the whole tensor {sizes} times (shape {tile_shape}), NumPy's repeats each element "
                    f"(shape {numpy_shape}). Say which: x.tile({sizes}) for PyTorch's, {numpy_call} for NumPy's")


class Tile(Function):
    @staticmethod
    def forward(ctx, x, reps):
        ctx.shape = x.shape
        return get_array_module(x).tile(x, reps)

    @staticmethod
    def backward(ctx, gy):
        shape = (1,) * (gy.ndim - len(ctx.shape)) + ctx.shape
        # view each tiled axis as (reps, size) and sum over the reps
        split = []
        for n, m in zip(shape, gy.shape):
            split += [m // n, n] if n else [0, 0]
        summed = gy.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return summed.reshape(ctx.shape), None


def tile(x, reps):
    """NumPy's tile: the whole tensor repeated ``reps`` times along each axis."""
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    return Tile.apply(x, reps)
