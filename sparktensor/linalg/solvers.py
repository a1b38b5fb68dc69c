"""Inverses and solutions: ``inv``, ``solve``, ``matrix_power``, ``pinv``, ``matrix_rank``. Gradients are PyTorch's formulas (conjugate Wirtinger for complex inputs); a backward that needs
an inverse or a solution calls this package's differentiable ones when it is itself being recorded."""
import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import grad_for, meta, namespace_of
from ._common import (as_floating, broadcast_batches, check_matrix, check_square, constant_eye, linalg_of, mH,
                      run_lapack)


class Inv(Function):
    """Inverses of square matrices: gx = -y^H gy y^H."""

    @staticmethod
    def forward(ctx, x):
        y = run_lapack("inv", x.shape, get_array_module(x).linalg.inv, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        yH = mH(y)
        return -(yH @ gy @ yH)


def inv(x, /):
    """The inverse of each square matrix; ``LinAlgError`` for a singular one."""
    x = as_floating(x, "inv")
    check_square(x, "inv")
    return Inv.apply(x)


def _solve(a, b):
    """Raw ``solve`` of matrices ``a`` (..., M, M) and ``b`` (..., M, K), the batch axes broadcast."""
    xp = get_array_module(a, b)
    a, b = broadcast_batches(xp, a, b)
    return run_lapack("solve", a.shape, xp.linalg.solve, a, b)


class Solve(Function):
    """Solutions of a x = b for matrices b: gb = solve(a^H, gx), ga = -gb x^H."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.meta = meta(a), meta(b)
        x = _solve(a, b)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        xp = namespace_of(g, a, x)
        gb = _solve(mH(a), g) if xp.__name__ != "sparktensor" else linalg_of(xp).solve(mH(a), g)
        ga = -(gb @ mH(x)) if ctx.needs_input_grad[0] else None
        return grad_for(ga, ctx.meta[0]), grad_for(gb, ctx.meta[1], ctx.needs_input_grad[1])


def solve(x1, x2, /):
    """The solution ``x`` of ``x1 @ x = x2``: ``x2`` is one vector (M,) when 1-D, else matrices (..., M, K); the
    batch axes broadcast."""
    x1, x2 = as_floating(x1, "solve"), as_floating(x2, "solve")
    check_square(x1, "solve")
    vector = x2.ndim == 1
    m = x2.shape[0] if vector else (x2.shape[-2] if x2.ndim >= 2 else None)
    if m != x1.shape[-1]:
        raise ValueError(f"linalg.solve: x1 of shape {tuple(x1.shape)} and x2 of shape {tuple(x2.shape)} do not "
                         f"match: x2 needs {x1.shape[-1]} rows (a vector of that length, or matrices (..., "
                         f"{x1.shape[-1]}, K))")
    try:
        np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise ValueError(f"linalg.solve: the batch axes of x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} do not broadcast") from None
    if vector:
        x = Solve.apply(x1, x2.reshape(-1, 1))
        return x.reshape(x.shape[:-1])
    return Solve.apply(x1, x2)


class MatrixPower(Function):
    """Positive integer powers of square matrices."""

    @staticmethod
    def forward(ctx, x, n):
        ctx.n = n
        ctx.save_for_backward(x)
        y, square = None, x
        while n:  # by squaring, with matmul (which takes stacks of matrices on every backend)
            if n & 1:
                y = square if y is None else y @ square
            n >>= 1
            square = square @ square if n else square
        return y.copy() if y is x else y

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        # d(x^n) = sum_k x^k dx x^(n-1-k), so gx = sum_k (x^H)^k g (x^H)^(n-1-k)
        powers = [None, mH(x)]
        for _ in range(2, ctx.n):
            powers.append(powers[-1] @ powers[1])
        gx = g @ powers[ctx.n - 1] if ctx.n > 1 else g
        for k in range(1, ctx.n):
            term = powers[k] @ g
            gx = gx + (term @ powers[ctx.n - 1 - k] if ctx.n - 1 - k else term)
        return gx, None


def matrix_power(x, n, /):
    """``x`` multiplied by itself ``n`` times (the inverse's powers for negative ``n``, identities for 0)."""
    x = as_floating(x, "matrix_power")
    check_square(x, "matrix_power")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    n = int(n)
    if n == 0:
        return x * 0 + constant_eye(x, x.shape[-1])  # identities, with a zero gradient as in PyTorch
    if n < 0:
        x, n = inv(x), -n
    return MatrixPower.apply(x, n)


def _default_rtol(x, rtol):
    """The Array API's default cut-off, ``max(M, N) * eps``, or ``rtol`` (an array of one per matrix allowed)."""
    if rtol is None:
        return float(max(x.shape[-2:]) * np.finfo(x.dtype).eps)
    return get_array_module(x).asarray(getattr(rtol, "data", rtol))


class Pinv(Function):
    """Moore-Penrose pseudo-inverses; PyTorch's pinv_backward."""

    @staticmethod
    def forward(ctx, x, rtol):
        y = _pinv(get_array_module(x), x, rtol)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, p = ctx.saved_tensors
        # PyTorch's pinv_backward, arranged so every product is of the smaller size
        pH, gH = mH(p), mH(g)
        if a.shape[-2] <= a.shape[-1]:
            k = gH @ p
            kpH = k @ pH
            return -mH(p @ k) + kpH - (a @ p) @ kpH + (pH @ p) @ (gH - k @ a), None
        k = p @ gH
        pHk = pH @ k
        return -mH(k @ p) + (gH - a @ k) @ p @ pH + pHk - pHk @ p @ a, None


def _pinv(xp, x, rtol):
    """The pseudo-inverse through the SVD, singular values below ``rtol`` times the largest dropped (``rtol`` a
    number or one per matrix)."""
    u, s, vh = xp.linalg.svd(x, full_matrices=False)
    rtol = rtol if getattr(rtol, "ndim", 0) == 0 else rtol[..., None]
    keep = s > rtol * s.max(axis=-1, keepdims=True)
    s_inv = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(x.dtype)
    return mH(vh) @ (s_inv[..., :, None] * mH(u))


def pinv(x, /, *, rtol=None):
    """The Moore-Penrose pseudo-inverse of each matrix; singular values below ``rtol`` times the largest count as
    zero (``max(M, N) * eps`` by default)."""
    x = as_floating(x, "pinv")
    check_matrix(x, "pinv")
    return Pinv.apply(x, _default_rtol(x, rtol))


def matrix_rank(x, /, *, rtol=None):
    """The number of singular values of each matrix above ``rtol`` times the largest (an integer tensor)."""
    from ..tensor import Tensor
    x = as_floating(x, "matrix_rank")
    check_matrix(x, "matrix_rank")
    xp = get_array_module(x)
    s = xp.linalg.svd(x.data, compute_uv=False)
    tol = _default_rtol(x, rtol)
    tol = (tol if getattr(tol, "ndim", 0) == 0 else tol[..., None]) * s.max(axis=-1, keepdims=True)
    return Tensor((s > tol).sum(axis=-1))
