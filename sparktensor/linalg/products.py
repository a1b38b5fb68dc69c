"""Products and matrix parts: ``matmul``, ``matrix_transpose``, ``outer``, ``vecdot``, ``tensordot``, ``cross``,
``trace``, ``diagonal``. Complex gradients are conjugate Wirtinger (PyTorch's): for ``z = x * y``,
``gx = gz * conj(y)``."""
import numpy as np

from ..autograd.function import Function
from ..ops import shape as S
from ..ops._grad_utils import conj, grad_for, meta, namespace_of
from ..ops.linalg import matmul  # noqa: F401 (the extension's matmul is the top-level one)
from ._common import constant_eye, linalg_of, permute


def matrix_transpose(x, /):
    """The transpose of each matrix in ``x`` (its last two axes swapped)."""
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: needs at least 2 dimensions, got shape {tuple(x.shape)}")
    return S.swapaxes(x, -1, -2)


class Outer(Function):
    """The outer product of two vectors."""

    @staticmethod
    def forward(ctx, x1, x2):
        ctx.meta = meta(x1), meta(x2)
        ctx.save_for_backward(x1, x2)
        return x1[:, None] * x2[None, :]

    @staticmethod
    def backward(ctx, g):
        x1, x2 = ctx.saved_tensors
        n1, n2 = ctx.needs_input_grad
        return (grad_for(g @ conj(x2), ctx.meta[0], n1), grad_for(conj(x1) @ g, ctx.meta[1], n2))


def outer(x1, x2, /):
    """The outer product of two vectors: ``out[i, j] = x1[i] * x2[j]``."""
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"outer: needs two 1-D vectors, got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    return Outer.apply(x1, x2)


class Vecdot(Function):
    """Dot products of vectors along an axis, the first operand conjugated."""

    @staticmethod
    def forward(ctx, x1, x2, axis):
        ctx.meta, ctx.axis = (meta(x1), meta(x2)), axis
        ctx.save_for_backward(x1, x2)
        product = conj(x1) * x2
        # the sum keeps the operands' dtype (NumPy's sum would widen small integers to 64 bits)
        return namespace_of(x1, x2).asarray(product.sum(axis=axis, dtype=product.dtype))

    @staticmethod
    def backward(ctx, g):
        x1, x2 = ctx.saved_tensors
        n1, n2 = ctx.needs_input_grad[:2]
        shape = list(g.shape)
        shape.insert(len(shape) + 1 + ctx.axis, 1)
        g = g.reshape(shape)
        # z = sum(conj(x1) * x2): x1 enters conjugated, so its gradient is the conjugate of gz * conj(x2)
        return (grad_for(conj(g) * x2, ctx.meta[0], n1), grad_for(g * x1, ctx.meta[1], n2), None)


def vecdot(x1, x2, /, *, axis=-1):
    """The dot product of vectors along ``axis`` (``x1`` conjugated), the other axes broadcast."""
    ndim = max(x1.ndim, x2.ndim)
    if not -ndim <= axis < ndim:
        raise ValueError(f"vecdot: axis {axis} is out of range for shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    axis = axis - ndim if axis >= 0 else axis  # the operands broadcast from the end, so count from there
    n1 = x1.shape[axis] if x1.ndim >= -axis else 1
    n2 = x2.shape[axis] if x2.ndim >= -axis else 1
    if n1 != n2:
        raise ValueError(f"vecdot: shapes {tuple(x1.shape)} and {tuple(x2.shape)} differ along axis {axis} "
                         f"({n1} != {n2})")
    return Vecdot.apply(x1, x2, axis)


def _tensordot_axes(axes, ndim1, ndim2):
    """The contracted axes of each operand, as two lists of non-negative ints."""
    if isinstance(axes, (int, np.integer)):
        if axes < 0:
            raise ValueError(f"tensordot: axes must be a non-negative int, got {axes}")
        return list(range(ndim1 - axes, ndim1)), list(range(int(axes)))
    a1, a2 = ([a] if isinstance(a, (int, np.integer)) else list(a) for a in axes)
    if len(a1) != len(a2):
        raise ValueError(f"tensordot: {len(a1)} axes of the first operand against {len(a2)} of the second")
    return [a % ndim1 for a in a1], [a % ndim2 for a in a2]


class Tensordot(Function):
    """Sum of products over paired axes of two tensors."""

    @staticmethod
    def forward(ctx, x1, x2, axes1, axes2):
        ctx.meta, ctx.axes = (meta(x1), meta(x2)), (axes1, axes2)
        ctx.save_for_backward(x1, x2)
        return namespace_of(x1, x2).tensordot(x1, x2, axes=(axes1, axes2))

    @staticmethod
    def backward(ctx, g):
        x1, x2 = ctx.saved_tensors
        xp = namespace_of(g, x1, x2)
        return (_tensordot_grad(xp, g, x2, *ctx.axes, x1.ndim, first=True) if ctx.needs_input_grad[0] else None,
                _tensordot_grad(xp, g, x1, *ctx.axes[::-1], x2.ndim, first=False)
                if ctx.needs_input_grad[1] else None, None, None)


def _tensordot_grad(xp, g, other, axes_self, axes_other, ndim_self, first):
    """The gradient of one tensordot operand: ``g`` contracted with the other operand's free axes."""
    free_self = [a for a in range(ndim_self) if a not in axes_self]
    free_other = [a for a in range(other.ndim) if a not in axes_other]
    # g's axes: the first operand's free axes, then the second's
    g_other = list(range(len(free_self), g.ndim)) if first else list(range(len(free_other)))
    gx = xp.tensordot(g, conj(other), axes=(g_other, free_other)) if first else \
        xp.tensordot(conj(other), g, axes=(free_other, g_other))
    # gx's axes: own free axes and other's contracted axes (in other's order), arranged by ``first``
    contracted = [axes_self[axes_other.index(a)] for a in sorted(axes_other)]
    layout = free_self + contracted if first else contracted + free_self
    return permute(gx, [layout.index(a) for a in range(ndim_self)])


def tensordot(x1, x2, /, *, axes=2):
    """Sum of products over ``axes``: the last ``axes`` axes of ``x1`` with the first of ``x2``, or the axes in a
    pair of sequences."""
    axes1, axes2 = _tensordot_axes(axes, x1.ndim, x2.ndim)
    for a1, a2 in zip(axes1, axes2):
        if x1.shape[a1] != x2.shape[a2]:
            raise ValueError(f"tensordot: axis {a1} of shape {tuple(x1.shape)} ({x1.shape[a1]}) does not match "
                             f"axis {a2} of shape {tuple(x2.shape)} ({x2.shape[a2]})")
    return Tensordot.apply(x1, x2, tuple(axes1), tuple(axes2))


class Cross(Function):
    """Cross products of 3-vectors along an axis."""

    @staticmethod
    def forward(ctx, x1, x2, axis):
        ctx.meta, ctx.axis = (meta(x1), meta(x2)), axis
        ctx.save_for_backward(x1, x2)
        return namespace_of(x1, x2).cross(x1, x2, axis=axis)

    @staticmethod
    def backward(ctx, g):
        x1, x2 = ctx.saved_tensors
        xp = namespace_of(g, x1, x2)
        cross = linalg_of(xp).cross if xp.__name__ == "sparktensor" else xp.cross
        n1, n2 = ctx.needs_input_grad[:2]
        return (grad_for(cross(conj(x2), g, axis=ctx.axis), ctx.meta[0], n1) if n1 else None,
                grad_for(cross(g, conj(x1), axis=ctx.axis), ctx.meta[1], n2) if n2 else None, None)


def cross(x1, x2, /, *, axis=-1):
    """The cross product of 3-element vectors along ``axis``; the other axes broadcast."""
    ndim = max(x1.ndim, x2.ndim)
    if not -ndim <= axis < ndim:
        raise ValueError(f"cross: axis {axis} is out of range for shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    axis = axis - ndim if axis >= 0 else axis  # the operands broadcast from the end, so count from there
    if any(x.ndim < -axis or x.shape[axis] != 3 for x in (x1, x2)):
        raise ValueError(f"cross: needs 3 elements along axis {axis} of both operands, got shapes "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    return Cross.apply(x1, x2, axis)


class Trace(Function):
    """Sums along a diagonal of each matrix."""

    @staticmethod
    def forward(ctx, x, offset, dtype):
        ctx.meta, ctx.offset = meta(x), offset
        xp = namespace_of(x)
        return xp.asarray(xp.trace(x, offset, axis1=-2, axis2=-1, dtype=dtype))

    @staticmethod
    def backward(ctx, g):
        n, m = ctx.meta[0][-2:]
        return grad_for(g[..., None, None] * constant_eye(g, n, m, ctx.offset), ctx.meta), None, None


def trace(x, /, *, offset=0, dtype=None):
    """The sum along diagonal ``offset`` of each matrix (the last two axes)."""
    if x.ndim < 2:
        raise ValueError(f"trace: needs a matrix or a stack of matrices, got shape {tuple(x.shape)}")
    return Trace.apply(x, int(offset), dtype)


class Diagonal(Function):
    """A diagonal of each matrix, as a copy."""

    @staticmethod
    def forward(ctx, x, offset):
        ctx.meta, ctx.offset = meta(x), offset
        return namespace_of(x).diagonal(x, offset, axis1=-2, axis2=-1).copy()

    @staticmethod
    def backward(ctx, g):
        n, m = ctx.meta[0][-2:]
        k = ctx.offset
        # element i of the diagonal sits in column i + max(k, 0): a constant selection puts it there
        columns = constant_eye(g, g.shape[-1], m, max(k, 0))
        return grad_for((g @ columns)[..., None, :] * constant_eye(g, n, m, k), ctx.meta), None


def diagonal(x, /, *, offset=0):
    """Diagonal ``offset`` of each matrix (the last two axes): above the main one for ``offset > 0``."""
    if x.ndim < 2:
        raise ValueError(f"diagonal: needs a matrix or a stack of matrices, got shape {tuple(x.shape)}")
    return Diagonal.apply(x, int(offset))

