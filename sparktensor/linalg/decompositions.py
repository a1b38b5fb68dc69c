"""Decompositions: ``cholesky``, ``qr``, ``svd``/``svdvals``, ``eigh``/``eigvalsh``, with PyTorch's gradients.

Singular vectors and eigenvectors are defined only up to a phase per vector (a sign for real input), and not
at all for repeated values; as in PyTorch, the gradients assume distinct values (repeated ones give inf or nan)
and, for complex input, a loss that does not depend on the phase (else backward raises, as PyTorch's does).
"""
from ..autograd.function import Function
from ..backend import get_array_module
from ..tensor import Tensor
from ._common import (EighResult, QRResult, SVDResult, as_floating, check_matrix, check_square, constant_eye,
                      diag_embed, diagonal_of, i_imag, linalg_of, mH, off_diagonal, raw, run_lapack, tril)
from ..ops._grad_utils import namespace_of


class Cholesky(Function):
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


class SVD(Function):
    @staticmethod
    def forward(ctx, x, full_matrices):
        u, s, vh = get_array_module(x).linalg.svd(x, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        ctx.set_materialize_grads(False)
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        k = s.shape[-1]
        # full matrices: only the first k vectors of each side take part (PyTorch narrows them too)
        u, vh = u[..., :k], vh[..., :k, :]
        gu = None if gu is None else gu[..., :k]
        gvh = None if gvh is None else gvh[..., :k, :]
        return _svd_grad(u, s, vh, gu, gs, gvh), None


def _svd_grad(u, s, vh, gu, gs, gvh):
    """PyTorch's svd_backward (distinct singular values; phase-invariant loss for complex input)."""
    m, n = u.shape[-2], vh.shape[-1]
    if gu is None and gvh is None:
        gs = 0 * s if gs is None else gs
        return u @ (gs[..., :, None] * vh) if m >= n else (u * gs[..., None, :]) @ vh
    skew = lambda a: a - mH(a)  # noqa: E731
    uhgu = skew(mH(u) @ gu) if gu is not None else None
    vhgv = skew(vh @ mH(gvh)) if gvh is not None else None
    if u.dtype.kind == "c":
        _check_phase_invariance(uhgu, vhgv, "svd", "singular")
    s2 = s * s
    e = s2[..., None, :] - s2[..., :, None] + constant_eye(s, s.shape[-1])
    if uhgu is not None and vhgv is not None:
        inner = (uhgu * s[..., None, :] + s[..., :, None] * vhgv) / e
    elif uhgu is not None:
        inner = uhgu / e * s[..., None, :]
    else:
        inner = s[..., :, None] * (vhgv / e)
    if gs is not None:
        inner = inner + diag_embed(gs)
    if uhgu is not None and u.dtype.kind == "c":
        inner = inner + diag_embed(diagonal_of(uhgu) / (2 * s))
    if m > n and gu is not None:
        gus = gu / s[..., None, :]
        return (u @ inner + gus - u @ (mH(u) @ gus)) @ vh
    if m < n and gvh is not None:
        sgvh = gvh / s[..., :, None]
        return u @ (inner @ vh + sgvh - (sgvh @ mH(vh)) @ vh)
    return u @ (inner @ vh) if m >= n else (u @ inner) @ vh


def _check_phase_invariance(first, second, name, what):
    """PyTorch's check that a complex loss ignores the phase of each vector (the imaginary diagonals of U^H gU and
    V^H gV cancel); it raises, as PyTorch does, since the gradient would depend on an arbitrary choice."""
    xp = get_array_module(raw(first if first is not None else second))
    im = sum(xp.imag(diagonal_of(raw(a))) for a in (first, second) if a is not None)
    if not xp.allclose(im, 0, rtol=1e-2, atol=1e-2):
        raise RuntimeError(f"linalg.{name}: the {what} vectors of a complex matrix are defined only up to a phase "
                           f"(a factor e^(i phi) each), and the loss depends on that phase, so its gradient is "
                           f"ill-defined; use a loss of |v| or of the reconstruction instead")


def svd(x, /, *, full_matrices=True):
    """The singular value decomposition of each matrix: ``SVDResult(U, S, Vh)`` with ``x = U @ diag(S) @ Vh`` and
    ``S`` descending; ``full_matrices=False`` keeps K = min(M, N) vectors on each side."""
    x = as_floating(x, "svd")
    check_matrix(x, "svd")
    return SVDResult(*SVD.apply(x, bool(full_matrices)))


def svdvals(x, /):
    """The singular values of each matrix, descending."""
    x = as_floating(x, "svdvals")
    check_matrix(x, "svdvals")
    if x.requires_grad:
        return SVD.apply(x, False)[1]
    return Tensor(get_array_module(x).linalg.svd(x.data, compute_uv=False))


class Eigh(Function):
    @staticmethod
    def forward(ctx, x):
        w, v = run_lapack("eigh", x.shape, get_array_module(x).linalg.eigh, x)
        ctx.save_for_backward(w, v)
        ctx.set_materialize_grads(False)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        if gv is None:
            return (v * gw[..., None, :]) @ mH(v)
        vhgv = mH(v) @ gv
        if v.dtype.kind == "c":
            _check_phase_invariance(vhgv, None, "eigh", "eigen")
        vhgv = 0.5 * (vhgv - mH(vhgv))  # onto the skew-Hermitian matrices, the tangent space of U(n)
        e = w[..., None, :] - w[..., :, None] + constant_eye(w, w.shape[-1])
        inner = off_diagonal(vhgv / e)
        if gw is not None:
            inner = inner + diag_embed(gw)
        return v @ inner @ mH(v)


def eigh(x, /):
    """Eigenvalues (ascending) and eigenvectors (columns) of each Hermitian matrix, from its lower triangle:
    ``EighResult(eigenvalues, eigenvectors)``."""
    x = as_floating(x, "eigh")
    check_square(x, "eigh")
    return EighResult(*Eigh.apply(x))


def eigvalsh(x, /):
    """The eigenvalues (ascending) of each Hermitian matrix, from its lower triangle."""
    x = as_floating(x, "eigvalsh")
    check_square(x, "eigvalsh")
    if x.requires_grad:
        return Eigh.apply(x)[0]
    return Tensor(run_lapack("eigvalsh", x.shape, get_array_module(x).linalg.eigvalsh, x.data))

