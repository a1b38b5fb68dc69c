"""``softmax``, ``log_softmax`` and ``softmin`` with PyTorch's signature, ``dim=None`` included.

Called without ``dim``, PyTorch picks one by the input's rank (dim 0 for 0-, 1- and 3-D inputs, dim 1 otherwise)
and warns that the choice is deprecated; these do the same, so a PyTorch habit gives PyTorch's result. The
top-level ``sparktensor.softmax(x)`` normalizes along the last axis.
"""
import warnings

from ...ops import elementwise as E, reduction as R


def _dim(name, x, dim):
    if dim is not None:
        return dim
    implicit = 0 if x.ndim in (0, 1, 3) else 1
    warnings.warn(f"{name} without dim: normalizing along dim {implicit}, PyTorch's deprecated choice for a "
                  f"{x.ndim}-D input (dim 0 for 0-, 1- and 3-D inputs, else 1); pass dim= to say which",
                  UserWarning, stacklevel=3)
    return implicit


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed in ``dtype`` when given."""
    x = input if dtype is None else input.astype(dtype)
    return R.softmax(x, dim=_dim("softmax", x, dim))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x))`` along ``dim``, without overflow or log(0)."""
    x = input if dtype is None else input.astype(dtype)
    return R.log_softmax(x, dim=_dim("log_softmax", x, dim))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim``."""
    x = input if dtype is None else input.astype(dtype)
    return R.softmax(E.neg(x), dim=_dim("softmin", x, dim))
