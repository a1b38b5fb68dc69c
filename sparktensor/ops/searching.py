"""The Array API's searching functions that answer with integer indices: ``nonzero``, ``count_nonzero`` and
``searchsorted``. Indices have no gradient, so these compute on the data and give int64 tensors."""
import numpy as np

from ..backend import get_array_module


def _values(x):
    from ..tensor import Tensor
    return x.data if isinstance(x, Tensor) else x


def nonzero(x, /):
    """The indices of the nonzero elements of ``x``, one int64 tensor per axis, in row-major order."""
    from ..tensor import Tensor
    data = _values(x)
    if data.ndim == 0:
        raise ValueError("nonzero of a 0-d tensor is not defined (the standard and NumPy refuse it); reshape it "
                         "to 1-D first, e.g. st.reshape(x, (1,))")
    return tuple(Tensor(i.astype(np.int64, copy=False)) for i in get_array_module(data).nonzero(data))


def count_nonzero(x, /, *, axis=None, keepdims=False):
    """How many elements of ``x`` are nonzero along ``axis`` (an int, a tuple, or all for ``None``), as int64."""
    from ..tensor import Tensor
    from ._grad_utils import normalize_axis
    data = _values(x)
    counts = (data != 0).sum(axis=normalize_axis(axis, data.ndim), keepdims=bool(keepdims), dtype=np.int64)
    return Tensor(get_array_module(data).asarray(counts))


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    """Where the values ``x2`` would go into the ascending 1-D ``x1`` (sorted by ``sorter`` when given) to keep
    it sorted: ``side="left"`` before equal values, ``"right"`` after them; int64 indices of ``x2``'s shape."""
    from ..tensor import Tensor
    sorted_values = _values(x1)
    xp = get_array_module(sorted_values)
    if sorted_values.ndim != 1:
        raise ValueError(f"searchsorted: x1 must be 1-D (sorted), not of shape {sorted_values.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', not {side!r}")
    if sorter is not None:
        order = xp.asarray(_values(sorter))
        if order.shape != sorted_values.shape or order.dtype.kind not in "iu":
            raise ValueError(f"searchsorted: sorter must be integer indices of x1's shape {sorted_values.shape}, "
                             f"got {order.dtype} of shape {order.shape}")
        sorted_values = sorted_values[order]
    values = xp.asarray(_values(x2))
    return Tensor(xp.asarray(xp.searchsorted(sorted_values, values, side=side)).astype(np.int64, copy=False))
