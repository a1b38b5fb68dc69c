"""Triangular factorizations: ``cholesky`` and ``qr``, with PyTorch's gradients."""
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import namespace_of
from ._common import (QRResult, as_floating, check_matrix, check_square, diag_embed, diagonal_of, i_imag, linalg_of,
                      mH, run_lapack, tril)


class Cholesky(Function):
    """The Cholesky factor (lower, or its conjugate transpose); PyTorch's gradient."""

    @staticmethod
    def forward(ctx, x, upper):
        ctx.upper = upper
        low = run_lapack("cholesky", x.shape, get_array_module(x).linalg.cholesky, x)
        out = mH(low) if upper else low
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        low, glow = (mH(out), mH(g)) if ctx.upper else (out, g)
        # PyTorch's cholesky_backward: Phi(L^H gL) made Hermitian-like, then L^-H . L^-1
        phi = tril(mH(low) @ glow)
        phi = 0.5 * (phi + mH(tril(phi, -1)))
        low_inv = linalg_of(namespace_of(g, out)).inv(low)
        return mH(low_inv) @ phi @ low_inv, None


def cholesky(x, /, *, upper=False):
    """The Cholesky factor of each Hermitian positive-definite matrix: lower ``L`` with ``x = L @ L^H``, or upper
    ``U = L^H`` with ``upper=True``; ``LinAlgError`` when a matrix is not positive definite."""
    x = as_floating(x, "cholesky")
    check_square(x, "cholesky")
    return Cholesky.apply(x, bool(upper))


class QR(Function):
    """Q and R of the QR decomposition; PyTorch's gradient (not for mode='complete' with more rows than columns)."""

    @staticmethod
    def forward(ctx, x, mode):
        ctx.mode = mode
        q, r = get_array_module(x).linalg.qr(x, mode=mode)
        ctx.save_for_backward(q, r)
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.saved_tensors
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(f"linalg.qr: mode='complete' is not differentiable for matrices with more rows "
                               f"than columns (got {m} x {n}), as in PyTorch; use mode='reduced'")
        if m >= n:
            return _qr_grad(q, r, gq, gr), None
        # x = [x1 | x2] with x1 = q r1 square and r2 = q^H x2; x2 is not saved, so rebuild it as q r2
        r1, r2, gr1, gr2 = r[..., :m], r[..., m:], gr[..., :m], gr[..., m:]
        gq = gq + (q @ r2) @ mH(gr2)
        return namespace_of(gq, q, r).concatenate([_qr_grad(q, r1, gq, gr1), q @ gr2], axis=-1), None


def _qr_grad(q, r, gq, gr):
    """The QR gradient for m >= n (reduced): (gQ + Q copyltu(M)) R^-H with M = R gR^H - gQ^H Q, where copyltu
    mirrors the strict lower triangle onto the upper one (conjugated) and keeps the real part of the diagonal."""
    m_ = r @ mH(gr) - mH(gq) @ q
    low = tril(m_, -1)
    diag = diagonal_of(m_)
    copyltu = low + mH(low) + diag_embed(diag - i_imag(diag))
    r_inv = linalg_of(namespace_of(q, r, gq, gr)).inv(r)
    return (gq + q @ copyltu) @ mH(r_inv)


def qr(x, /, *, mode="reduced"):
    """The QR decomposition of each matrix: ``QRResult(Q, R)``, ``Q`` with orthonormal columns, ``R`` upper
    triangular; ``mode`` "reduced" (K = min(M, N) columns of ``Q``) or "complete" (M)."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    x = as_floating(x, "qr")
    check_matrix(x, "qr")
    return QRResult(*QR.apply(x, mode))
