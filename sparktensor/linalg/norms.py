"""Norms: ``vector_norm`` (any order) and ``matrix_norm`` ("fro", "nuc", 1, -1, 2, -2, inf, -inf), with PyTorch's
gradients, subgradients at its non-smooth points included: zero at a zero vector, shared evenly among the tied
entries of an inf/-inf norm (and among tied singular values or column sums of a matrix norm)."""
import math

from ..autograd.function import Function
from ..backend import get_array_module
from ..ops import reduction as R
from ..ops._grad_utils import meta, namespace_of, normalize_axis
from ._common import as_floating, check_matrix
from .spectral import svdvals


class VectorNorm(Function):
    """The ord-norm over some axes; PyTorch's gradient and subgradients."""

    @staticmethod
    def forward(ctx, x, ord, axes, keepdims):
        xp = get_array_module(x)
        a = xp.abs(x)
        if ord == 2:
            y = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        elif ord == math.inf:
            y = a.max(axis=axes, keepdims=True)
        elif ord == -math.inf:
            y = a.min(axis=axes, keepdims=True)
        elif ord == 0:
            y = (a != 0).sum(axis=axes, keepdims=True).astype(a.dtype)
        elif ord == 1:
            y = a.sum(axis=axes, keepdims=True)
        else:
            y = (a ** ord).sum(axis=axes, keepdims=True) ** (1.0 / ord)
        ctx.ord, ctx.meta, ctx.kept, ctx.axes = ord, meta(x), y.shape, axes
        out = y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xp, p = namespace_of(g, x, y), ctx.ord
        if p == 0:
            return get_array_module(x).zeros(*ctx.meta), None, None, None
        g, y = g.reshape(ctx.kept), y.reshape(ctx.kept)
        a = xp.abs(x)
        a_safe, y_safe = xp.where(a == 0, 1, a), xp.where(y == 0, 1, y)
        sgn = x / a_safe  # x / |x|, zero at zero
        if p in (math.inf, -math.inf):
            ties = (a == y).astype(a.dtype)
            return sgn * ties * (g / ties.sum(axis=ctx.axes, keepdims=True)), None, None, None
        if p == 2:
            return x * xp.where(y == 0, 0, g / y_safe), None, None, None
        if p == 1:
            return sgn * g, None, None, None
        scale = xp.where(y == 0, 0, g / y_safe ** (p - 1))
        return sgn * xp.where(a == 0, 0, a_safe ** (p - 1)) * scale, None, None, None


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The ``ord``-norm of the vectors along ``axis`` (an int, a tuple, or None for all elements): ``ord`` any
    number (0 counts non-zeros), ``inf`` (largest magnitude) or ``-inf`` (smallest)."""
    x = as_floating(x, "vector_norm")
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise ValueError(f"linalg.vector_norm: ord must be a number, inf or -inf, got {ord!r} (matrix_norm takes "
                         f"'fro' and 'nuc')")
    axes = normalize_axis(axis, x.ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"linalg.vector_norm: axis {axis} names an axis twice")
    return VectorNorm.apply(x, float(ord), axes, bool(keepdims))


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The ``ord``-norm of each matrix (the last two axes): "fro" (Frobenius), "nuc" (sum of singular values),
    2 / -2 (largest / smallest singular value), 1 / -1 (largest / smallest column sum of magnitudes), inf / -inf
    (the same over rows)."""
    x = as_floating(x, "matrix_norm")
    check_matrix(x, "matrix_norm")
    if ord not in _MATRIX_ORDS or isinstance(ord, bool):
        raise ValueError(f"linalg.matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; got {ord!r}")
    if ord == "fro":
        return vector_norm(x, axis=(-2, -1), keepdims=keepdims, ord=2)
    if ord == "nuc":
        y = R.sum(svdvals(x), -1)
    elif ord in (2, -2):
        y = (R.amax if ord == 2 else R.amin)(svdvals(x), -1)
    else:
        # 1: columns (sum over rows, axis -2); inf: rows (sum over columns, axis -1)
        sums = vector_norm(x, axis=-2 if abs(ord) == 1 else -1, ord=1)
        y = (R.amax if ord > 0 else R.amin)(sums, -1)
    return y.reshape(x.shape[:-2] + (1, 1)) if keepdims else y
