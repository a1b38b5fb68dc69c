"""Picking and ordering along one axis: gather/scatter, index_select, masked_fill, sort, argsort, topk, cumsum.

These are PyTorch's (``dim`` first, then the index), except ``sort``, ``argsort`` and ``cumsum``, which NumPy has
too: there the call's form decides (docs/semantics.md).
"""
import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import differentiable, normalize_axis
from .cumulative import CumulativeSum
from .indexing import IndexPut, zeroed_at
from .reduction import ValuesIndices


def _dim(dim, ndim, op):
    if not hasattr(dim, "__index__"):
        raise TypeError(f"{op} works along one dim, an int, not {dim!r}")
    return normalize_axis(dim, max(ndim, 1))[0]


def _index_array(index, op):
    from ..tensor import Tensor
    index = index.data if isinstance(index, Tensor) else get_array_module(index).asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: the index must hold integers, not {index.dtype}; convert it with .long()")
    return index


def _positions(x, index, dim, op):
    """The integer-array index that reads ``x`` at ``index[i][j][k]`` along ``dim`` and at ``i, j, k`` elsewhere."""
    if index.ndim != max(x.ndim, 1) and not (x.ndim == 0 and index.ndim == 0):
        raise ValueError(f"{op}: the index (shape {index.shape}) needs as many dims as the tensor (shape {x.shape})")
    for d, (n, m) in enumerate(zip(index.shape, x.shape)):
        if d != dim and n > m:
            raise ValueError(f"{op}: index shape {index.shape} is larger than the tensor's {x.shape} in dim {d}")
    if x.ndim == 0:
        return ()
    xp = get_array_module(x)
    if index.size and (int(index.min()) < -x.shape[dim] or int(index.max()) >= x.shape[dim]):
        raise IndexError(f"{op}: index {int(index.max()) if index.max() >= x.shape[dim] else int(index.min())} is "
                         f"out of bounds for dim {dim} with size {x.shape[dim]}")
    grids = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grids[dim] = xp.asarray(index)
    return tuple(grids)


def _within(shape):
    return tuple(slice(0, n) for n in shape)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.shape = x.shape
        ctx.where = _positions(x, index, dim, "gather")
        return x[ctx.where]

    @staticmethod
    def backward(ctx, gy):
        # scatter-add is the adjoint of gather (repeated indices add up), and gather the adjoint of scatter-add
        return differentiable(IndexPut, gy, ctx.shape, ctx.where), None, None


class Scatter(Function):
    """``x`` with ``src`` written (or added, ``add=True``) at ``index`` along ``dim``."""

    @staticmethod
    def forward(ctx, x, index, src, dim, add):
        ctx.where, ctx.add = _positions(x, index, dim, "scatter_add" if add else "scatter"), add
        ctx.src_meta = (src.shape, src.dtype) if hasattr(src, "shape") else None
        part = src[_within(index.shape)] if hasattr(src, "shape") and src.ndim else src
        out = x.copy()
        if add:
            get_array_module(x).add.at(out, ctx.where, part)
        else:
            out[ctx.where] = part
        return out

    @staticmethod
    def backward(ctx, gy):
        gx = gy if ctx.add else zeroed_at(gy, ctx.where)  # overwritten elements pass nothing back to x
        gsrc = None
        if ctx.needs_input_grad[2]:
            picked = gy[ctx.where]  # a Tensor's [] is GetItem
            shape, dtype = ctx.src_meta
            gsrc = picked
            if picked.shape != shape:  # src larger than the index, or a 0-d value written everywhere
                gsrc = differentiable(IndexPut, picked, shape, _within(picked.shape)) if shape else picked.sum()
            gsrc = gsrc if gsrc.dtype == dtype else gsrc.astype(dtype)
        return gx, None, gsrc, None, None


def gather(x, dim, index):
    """``out[i][j] = x[i][index[i][j]]`` for ``dim=1`` (PyTorch's ``gather``); the index has ``x``'s rank."""
    return Gather.apply(x, _index_array(index, "gather"), _dim(dim, x.ndim, "gather"))


def _scatter(x, dim, index, src, add, op):
    from ..tensor import Tensor
    if isinstance(src, Tensor) and src.dtype != x.dtype:
        raise TypeError(f"{op}: src is {src.dtype} and the tensor {x.dtype}; convert one, e.g. src.to({x.dtype})")
    return Scatter.apply(x, _index_array(index, op), src, _dim(dim, x.ndim, op), add)


def scatter(x, dim, index, src=None, *, value=None):
    """A copy of ``x`` with ``src[i][j]`` (or ``value``) written at ``[i][index[i][j]]`` for ``dim=1``."""
    if (src is None) == (value is None):
        raise TypeError("scatter takes src (a tensor or number) or value=, one of them")
    return _scatter(x, dim, index, value if src is None else src, False, "scatter")


def scatter_add(x, dim, index, src):
    """A copy of ``x`` with ``src[i][j]`` added at ``[i][index[i][j]]`` for ``dim=1``; repeats add up."""
    return _scatter(x, dim, index, src, True, "scatter_add")


def index_select(x, dim, index):
    """The entries of ``x`` at the 1-D ``index`` along ``dim``."""
    from .indexing import getitem
    index = _index_array(index, "index_select")
    if index.ndim > 1:
        raise ValueError(f"index_select: the index must be 1-D (or 0-d), not of shape {index.shape}")
    return getitem(x, (slice(None),) * _dim(dim, x.ndim, "index_select") + (index.reshape(-1),))


def masked_fill(x, mask, value):
    """``x`` with ``value`` (a number or 0-d tensor) where the boolean ``mask`` (broadcast to ``x``) is true."""
    from ..tensor import Tensor
    from .conversion import astype
    from .elementwise import where
    raw = mask.data if isinstance(mask, Tensor) else get_array_module(mask).asarray(mask)
    if raw.dtype != np.bool_:
        raise TypeError(f"masked_fill: the mask must be bool, not {raw.dtype}; compare first, e.g. mask = x > 0")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, not of shape {value.shape}")
        value = astype(value, x.dtype)
    else:
        value = get_array_module(x.data).asarray(value, dtype=x.dtype)
    out = where(mask, value, x)
    if out.shape != x.shape:
        raise ValueError(f"masked_fill: a mask of shape {raw.shape} does not broadcast to the tensor's {x.shape}")
    return out


# ----- ordering -----
def _order(data, axis, descending):
    """Stable order along ``axis``; descending keeps equal elements in their original order, as PyTorch's."""
    xp = get_array_module(data)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    flipped = xp.argsort(xp.flip(data, axis=axis), axis=axis, kind="stable")
    return n - 1 - xp.flip(flipped, axis=axis)


def _sorted(x, dim, descending, k=None):
    from ..tensor import Tensor
    if x.ndim == 0:
        return ValuesIndices(x * 1, Tensor(get_array_module(x.data).zeros((), np.int64)))
    dim = _dim(dim, x.ndim, "sort")
    index = _order(x.data, dim, descending).astype(np.int64)
    if k is not None:
        index = index[(slice(None),) * dim + (slice(0, k),)]
    return ValuesIndices(gather(x, dim, index), Tensor(index))


class _NotGiven:
    def __repr__(self):
        return "None"


_NOT_GIVEN = _NotGiven()


def sort(x, *args, axis=_NOT_GIVEN, dim=None, descending=None, stable=None, kind=None):
    """NumPy's ``sort(x, axis=-1)`` and the Array API's ``sort(x, axis=-1, descending=False, stable=True)`` give the
    sorted values (``axis=None`` flattens); PyTorch's ``sort(x, dim=-1, descending=False)`` gives ``(values,
    indices)``; ``sort(x)`` alone raises, naming both. Every sort is stable."""
    if len(args) > 1:
        raise TypeError(f"sort: give the axis positionally and the rest by keyword, got {len(args)} positional "
                        f"arguments")
    numpy_form = axis is not _NOT_GIVEN or kind is not None
    torch_form = dim is not None or (descending is not None and not numpy_form)
    if numpy_form and dim is not None:
        raise TypeError("sort: axis=/kind= are NumPy's and the Array API's words and dim= PyTorch's; use one set")
    if torch_form:
        if args and dim is not None:
            raise TypeError("sort: the dim is given twice")
        return _sorted(x, args[0] if args else (-1 if dim is None else dim), bool(descending))
    if not numpy_form:
        where = f"{args[0]!r}" if args else ""
        sep = ", " if args else ""
        raise TypeError(f"sort(x{sep}{where}) reads two ways: NumPy's sort gives the sorted values, PyTorch's "
                        f"(values, indices). Say which: st.sort(x, axis={args[0] if args else -1!r}) for NumPy's, "
                        f"x.sort(dim={args[0] if args else -1!r}) for PyTorch's")
    if args:
        if axis not in (_NOT_GIVEN, None):
            raise TypeError("sort: the axis is given twice")
        axis = args[0]
    if axis is _NOT_GIVEN:
        axis = -1
    if axis is None:
        from .shape import reshape
        x, axis = reshape(x, -1), 0
    return _sorted(x, axis, bool(descending)).values


def argsort(x, axis=-1, *, dim=None, descending=False, stable=None, kind=None):
    """Indices that sort ``x`` along ``axis``/``dim`` (the flattened tensor for ``axis=None``); stable, as NumPy's
    and PyTorch's agree on the result then."""
    from ..tensor import Tensor
    axis = axis if dim is None else dim
    data = x.data.reshape(-1) if axis is None else x.data
    if data.ndim == 0:
        return Tensor(get_array_module(data).zeros((), np.int64))
    return Tensor(_order(data, 0 if axis is None else _dim(axis, data.ndim, "argsort"), descending).astype(np.int64))


def topk(x, k, dim=-1, largest=True, sorted=True):
    """PyTorch's ``topk``: the ``k`` largest (or smallest) entries along ``dim`` as ``(values, indices)``."""
    n = x.shape[_dim(dim, x.ndim, "topk")] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {n} (tensor of shape {x.shape})")
    return _sorted(x, dim, largest, k) if x.ndim else _sorted(x, dim, largest)


# ----- cumulative sums -----
def cumsum(x, axis=None, dtype=None, *, dim=None):
    """Running sums along ``axis``/``dim``; NumPy's ``axis=None`` runs over the flattened tensor."""
    from .shape import reshape
    axis = axis if dim is None else dim
    if dtype is not None:
        x = x.astype(dtype)
    if axis is None or x.ndim == 0:
        x, axis = reshape(x, -1), 0
    y = CumulativeSum.apply(x, _dim(axis, x.ndim, "cumsum"), False)
    # NumPy accumulates small integers in 64 bits unless told a dtype; told one, the sums stay in it
    return y if dtype is None or y.dtype == dtype else y.astype(dtype)


def one_hot(tensor, num_classes=-1):
    """PyTorch's ``F.one_hot``: int64 tensor with a trailing axis of ``num_classes`` (``max + 1`` when -1)."""
    from ..tensor import Tensor
    labels = _index_array(tensor, "one_hot")
    xp = get_array_module(labels)
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got values from {int(labels.min())} to "
                         f"{int(labels.max())}")
    return Tensor((labels[..., None] == xp.arange(num_classes)).astype(np.int64))
