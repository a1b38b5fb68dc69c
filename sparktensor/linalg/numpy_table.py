"""NumPy's linear algebra functions on tensors (``np.linalg.inv(t)``, ``np.trace(t)``, ...): each entry takes
NumPy's own arguments and calls this package's differentiable version, so the result keeps the graph."""
import numpy as np

from ..backend import get_array_module
from ..tensor import Tensor
from ._common import as_floating, moveaxis, mH
from .determinants import det, slogdet
from .factorizations import cholesky, qr
from .norms import matrix_norm, vector_norm
from .products import cross, diagonal, matmul, matrix_transpose, outer, tensordot, trace, vecdot
from .solvers import inv, matrix_power, matrix_rank, pinv, solve
from .spectral import eigh, eigvalsh, svd, svdvals

_UNSET = getattr(np, "_NoValue", object())


def _tensor(x):
    """A tensor from a tensor, an array or a number."""
    if isinstance(x, Tensor):
        return x
    from ..creation import as_tensor
    return as_tensor(np.asarray(x))


def _lower(a, uplo, name):
    """The matrices whose lower triangles hold what NumPy reads for ``UPLO``."""
    if uplo not in ("L", "U"):
        raise ValueError(f"numpy.linalg.{name}: UPLO must be 'L' or 'U', got {uplo!r}")
    a = as_floating(a, name)
    return a if uplo == "L" else mH(a)


def _qr(a, mode="reduced"):
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"numpy.linalg.qr: mode {mode!r} is not supported for tensors; use 'reduced', 'complete' "
                         f"or 'r'")
    return qr(a).R if mode == "r" else qr(a, mode=mode)


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    # hermitian only picks NumPy's algorithm; the decomposition is the general one's
    return svd(a, full_matrices=full_matrices) if compute_uv else svdvals(a)


def _pinv(a, rcond=None, hermitian=False, *, rtol=_UNSET):
    """NumPy's defaults: ``rcond`` 1e-15 unless given; ``rtol=None`` is the Array API's ``max(M, N) * eps``."""
    if rcond is not None and rtol is not _UNSET:
        raise ValueError("numpy.linalg.pinv: rtol and rcond cannot both be set")
    if rcond is None:
        rcond = 1e-15 if rtol is _UNSET else rtol
    return pinv(a, rtol=rcond)


def _matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if tol is None:
        return matrix_rank(A, rtol=rtol)
    A = as_floating(A, "matrix_rank")
    return Tensor(get_array_module(A).asarray(np.linalg.matrix_rank(A.numpy(), tol)))


def _norm(x, ord=None, axis=None, keepdims=False):
    """``numpy.linalg.norm``: a vector norm over one axis, a matrix norm over two, the 2-norm of all elements."""
    x = as_floating(x, "norm")
    if axis is None:
        if ord is None or (ord in ("f", "fro") and x.ndim == 2) or (ord == 2 and x.ndim == 1):
            return vector_norm(x, keepdims=keepdims)
        axis = tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"numpy.linalg.norm: ord {ord!r} is a matrix norm; vectors take numbers")
        return vector_norm(x, axis=axes, keepdims=keepdims, ord=2 if ord is None else ord)
    if len(axes) != 2:
        raise ValueError(f"numpy.linalg.norm: needs one axis (vector norm) or two (matrix norm), got axis={axis} "
                         f"for shape {tuple(x.shape)}")
    rows, cols = (a % x.ndim for a in axes)
    if rows == cols:
        raise ValueError(f"numpy.linalg.norm: axis {axis} names one axis twice")
    moved = moveaxis(moveaxis(x, rows, -1), cols - (cols > rows), -1)
    y = matrix_norm(moved, ord="fro" if ord in (None, "f") else ord)
    if keepdims:
        y = y.reshape([1 if i in (rows, cols) else n for i, n in enumerate(x.shape)])
    return y


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise TypeError("numpy.trace: out= is not supported for tensors")
    a = _tensor(a)
    return trace(_last_two(a, axis1, axis2), offset=offset, dtype=dtype)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    a = _tensor(a)
    return diagonal(_last_two(a, axis1, axis2), offset=offset)


def _last_two(a, axis1, axis2):
    """``a`` with ``axis1`` and ``axis2`` moved to the end, in that order."""
    a1, a2 = axis1 % a.ndim, axis2 % a.ndim
    if a1 == a2:
        raise ValueError(f"axis1 and axis2 cannot be the same axis ({axis1}, {axis2})")
    return moveaxis(moveaxis(a, a1, -1), a2 - (a2 > a1), -1)


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _tensor(a), _tensor(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    y = cross(moveaxis(a, axisa, -1), moveaxis(b, axisb, -1))
    return moveaxis(y, -1, axisc)


def _tensordot(a, b, axes=2):
    return tensordot(_tensor(a), _tensor(b), axes=axes)


NUMPY_FUNCTIONS = {
    np.linalg.inv: inv, np.linalg.solve: solve, np.linalg.det: det, np.linalg.slogdet: slogdet,
    np.linalg.cholesky: lambda a, /, *, upper=False: cholesky(a, upper=upper),
    np.linalg.qr: _qr, np.linalg.svd: _svd,
    np.linalg.eigh: lambda a, UPLO="L": eigh(_lower(a, UPLO, "eigh")),
    np.linalg.eigvalsh: lambda a, UPLO="L": eigvalsh(_lower(a, UPLO, "eigvalsh")),
    np.linalg.pinv: _pinv, np.linalg.norm: _norm, np.linalg.matrix_power: matrix_power,
    np.linalg.matrix_rank: _matrix_rank,
    np.trace: _trace, np.diagonal: _diagonal, np.cross: _cross, np.tensordot: _tensordot,
    np.linalg.vecdot: lambda x1, x2, /, *, axis=-1: vecdot(_tensor(x1), _tensor(x2), axis=axis),
    np.linalg.matrix_norm: matrix_norm, np.linalg.vector_norm: vector_norm, np.linalg.svdvals: svdvals,
    np.linalg.outer: lambda x1, x2, /: outer(_tensor(x1), _tensor(x2)),
    np.linalg.cross: lambda x1, x2, /, *, axis=-1: cross(_tensor(x1), _tensor(x2), axis=axis),
    np.linalg.tensordot: lambda x1, x2, /, *, axes=2: tensordot(_tensor(x1), _tensor(x2), axes=axes),
    np.linalg.trace: lambda x, /, *, offset=0, dtype=None: trace(_tensor(x), offset=offset, dtype=dtype),
    np.linalg.diagonal: lambda x, /, *, offset=0: diagonal(_tensor(x), offset=offset),
    np.linalg.matrix_transpose: lambda x, /: matrix_transpose(_tensor(x)),
    np.linalg.matmul: lambda x1, x2, /: matmul(_tensor(x1), _tensor(x2)),
}

# np.vecdot is a ufunc (it reaches tensors through __array_ufunc__, by name)
NUMPY_UFUNCS = {"vecdot": lambda x1, x2: vecdot(_tensor(x1), _tensor(x2))}
