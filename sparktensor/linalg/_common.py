"""What the linear algebra functions share: result types, argument checks, and the small matrix helpers their
backward formulas use (conjugate transpose, constant masks, diagonals) on arrays and Tensors alike."""
from collections import namedtuple

import numpy as np

from ..backend import get_array_module
from ..ops import shape as S
from ..ops._grad_utils import conj
from ..tensor import Tensor

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])

LinAlgError = np.linalg.LinAlgError


# ----- arguments -----
def as_floating(x, name):
    """``x`` as a Tensor of a floating or complex dtype (integers and booleans become float64, as in NumPy)."""
    if not isinstance(x, Tensor):
        from ..creation import as_tensor
        x = as_tensor(x if hasattr(x, "shape") else np.asarray(x))
    if x.dtype.kind not in "fc":
        if x.dtype.kind not in "biu":
            raise TypeError(f"linalg.{name}: needs a numeric tensor, got dtype {x.dtype}")
        x = x.astype(np.float64)
    return x


def check_matrix(x, name):
    """Raise unless ``x`` is a matrix or a stack of matrices."""
    if x.ndim < 2:
        raise ValueError(f"linalg.{name}: needs a matrix or a stack of matrices (at least 2 dimensions), got shape "
                         f"{tuple(x.shape)}")


def check_square(x, name):
    """Raise NumPy's ``LinAlgError`` unless the last two axes of ``x`` are square."""
    check_matrix(x, name)
    if x.shape[-1] != x.shape[-2]:
        raise LinAlgError(f"linalg.{name}: needs square matrices in the last two dimensions, got shape "
                          f"{tuple(x.shape)}")


def run_lapack(name, shape, call, *args, **kwargs):
    """``call(*args)``, with NumPy's ``LinAlgError`` (a singular or indefinite matrix) naming the function and
    the shape."""
    try:
        return call(*args, **kwargs)
    except LinAlgError as e:
        raise LinAlgError(f"linalg.{name}: {e} (input of shape {tuple(shape)})") from None


def broadcast_batches(xp, a, b):
    """Raw ``a`` (..., M, N) and ``b`` (..., P, Q) with their leading (batch) axes broadcast to one shape."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return xp.broadcast_to(a, batch + a.shape[-2:]), xp.broadcast_to(b, batch + b.shape[-2:])


# ----- helpers of backward formulas: Python operators only, so they run on arrays and on Tensors -----
def mH(x):
    """The conjugate transpose of each matrix (last two axes)."""
    return conj(x.swapaxes(-1, -2))


def constant_eye(like, n, m=None, k=0):
    """A constant identity (``n`` x ``m``, ones on diagonal ``k``) of ``like``'s dtype and device."""
    return get_array_module(like).eye(n, m, k, dtype=like.dtype)


def tril(x, k=0):
    """The lower triangle of each matrix (below diagonal ``k``), by a constant mask."""
    xp = get_array_module(x)
    return x * xp.tril(xp.ones(x.shape[-2:], dtype=x.dtype), k)


def diag_embed(v):
    """Square matrices with ``v``'s last axis on their diagonals."""
    return v[..., None, :] * constant_eye(v, v.shape[-1])


def diagonal_of(x):
    """The main diagonal of each square matrix."""
    return (x * constant_eye(x, x.shape[-1])).sum(axis=-1)


def off_diagonal(x):
    """Each square matrix with its main diagonal set to zero."""
    return x - x * constant_eye(x, x.shape[-1])


def i_imag(z):
    """``1j * imag(z)`` (zero for real ``z``), from operators and ``conj`` alone."""
    return (z - conj(z)) * 0.5


def raw(x):
    """The array of a Tensor (or the array itself): for checks that take no part in the gradient."""
    return x.data if isinstance(x, Tensor) else x


def permute(x, axes):
    """``x`` with its axes in the order ``axes``, on arrays and on Tensors (which record it)."""
    return S.permute(x, *axes) if isinstance(x, Tensor) else x.transpose(axes)


def moveaxis(x, source, destination):
    """NumPy's ``moveaxis`` for one axis, on arrays and on Tensors."""
    order = [a for a in range(x.ndim) if a != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return permute(x, order)


def linalg_of(xp):
    """The linear algebra module that goes with ``xp``: ``numpy.linalg``, ``cupy.linalg`` or this package."""
    if xp.__name__ == "sparktensor":
        import sys
        return sys.modules["sparktensor.linalg"]
    return xp.linalg
