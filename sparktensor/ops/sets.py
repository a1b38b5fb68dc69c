"""The Array API's set functions: ``unique_all``, ``unique_counts``, ``unique_inverse`` and ``unique_values``.

They answer as named tuples of tensors, with the distinct values sorted and every NaN a distinct value of its own
(``-0.0`` and ``0.0`` are one). They are not differentiable, as ``torch.unique`` is not: the values come back
without a gradient even from a tensor that requires one.
"""
from collections import namedtuple

import numpy as np

from ..backend import get_array_module

UniqueAllResult = namedtuple("UniqueAllResult", ["values", "indices", "inverse_indices", "counts"])
UniqueCountsResult = namedtuple("UniqueCountsResult", ["values", "counts"])
UniqueInverseResult = namedtuple("UniqueInverseResult", ["values", "inverse_indices"])


def _unique(x, index, inverse, counts):
    """The distinct values of the flattened ``x`` and, as asked, the first index, the inverse (in ``x``'s shape)
    and the count of each, as tensors (indices int64)."""
    from ..tensor import Tensor
    data = x.data if isinstance(x, Tensor) else x
    xp = get_array_module(data)
    out = xp.unique(data.reshape(-1), return_index=index, return_inverse=inverse, return_counts=counts,
                    equal_nan=False)
    out = out if isinstance(out, tuple) else (out,)
    tensors = [Tensor(out[0])] + [Tensor(a.astype(np.int64, copy=False)) for a in out[1:]]
    if inverse:
        position = 1 + index
        tensors[position] = Tensor(tensors[position].data.reshape(data.shape))
    return tensors


def unique_all(x, /):
    """The distinct values of ``x``, the flat index of the first occurrence of each, the index of each element's
    value among them (``x``'s shape) and how often each occurs."""
    return UniqueAllResult(*_unique(x, True, True, True))


def unique_counts(x, /):
    """The distinct values of ``x`` and how often each occurs."""
    return UniqueCountsResult(*_unique(x, False, False, True))


def unique_inverse(x, /):
    """The distinct values of ``x`` and, in ``x``'s shape, the index of each element's value among them."""
    return UniqueInverseResult(*_unique(x, False, True, False))


def unique_values(x, /):
    """The distinct values of ``x``, sorted (each NaN on its own)."""
    return _unique(x, False, False, False)[0]
