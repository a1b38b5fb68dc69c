"""The array namespace a tensor names (``t.__array_namespace__()``), so that libraries written against the
Array API standard (SciPy under ``SCIPY_ARRAY_API=1``) keep the graph instead of converting to NumPy.

Every name not defined here is NumPy's own (``xp.exp``, ``xp.sum``, ``xp.where``, ``xp.linalg``, ``xp.inf``):
called on tensors, NumPy's protocols (``numpy_protocols``) run the differentiable op of the same meaning, run
the function on tensors that need no gradient, or raise ``TypeError`` naming the function, so a gradient is
never dropped without a word. Defined here is only what NumPy's protocols cannot route, because no tensor is
among the arguments or because NumPy's version would leave the graph: ``asarray`` and the creation functions.
This is not yet the whole standard: a function NumPy's protocols have no differentiable version of still
raises for tensors that require grad.
"""
import numpy as np

from . import creation
from .ops import conversion as C
from .tensor import Tensor

__array_api_version__ = "2024.12"


def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """A tensor of ``obj``; a tensor stays in the graph (converted by ``astype``, copied by ``clone``)."""
    if not isinstance(obj, Tensor):
        if copy is False:
            raise ValueError(f"asarray(copy=False): a {type(obj).__name__} cannot become a tensor without a copy")
        return creation.tensor(obj, dtype=dtype, device=device) if copy else creation.as_tensor(obj, dtype, device)
    t = obj if device is None else obj.to(device)
    t = t if dtype is None else C.astype(t, dtype)
    if t is not obj and copy is False:
        raise ValueError(f"asarray(copy=False): a {obj.dtype} tensor on {obj.device} cannot become {dtype} on "
                         f"{device or obj.device} without a copy")
    return C.clone(t) if copy and t is obj else t


def _shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def zeros(shape, *, dtype=None, device=None):
    """Zeros of ``shape``."""
    return creation.zeros(_shape(shape), dtype=dtype, device=device)


def ones(shape, *, dtype=None, device=None):
    """Ones of ``shape``."""
    return creation.ones(_shape(shape), dtype=dtype, device=device)


def empty(shape, *, dtype=None, device=None):
    """A tensor of ``shape`` whose values are not initialized."""
    return creation.empty(_shape(shape), dtype=dtype, device=device)


def full(shape, fill_value, *, dtype=None, device=None):
    """``fill_value`` in every element of ``shape``."""
    return creation.full(_shape(shape), fill_value, dtype=dtype, device=device)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
    """Evenly spaced values in ``[start, stop)``."""
    return creation.arange(start, stop, step, dtype=dtype, device=device)


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True):
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    return creation.linspace(start, stop, num, endpoint, dtype=dtype, device=device)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    """Ones on the ``k``-th diagonal of an ``n_rows`` by ``n_cols`` tensor."""
    if k:
        raise TypeError(f"eye(k={k}): only the main diagonal is supported for tensors")
    return creation.eye(n_rows, n_cols, dtype=dtype, device=device)


def __getattr__(name):
    try:
        return getattr(np, name)
    except AttributeError:
        raise AttributeError(f"the tensor array namespace has no {name!r} (nor has NumPy)") from None
