"""Spectral decompositions: ``svd``/``svdvals`` and ``eigh``/``eigvalsh``, with PyTorch's gradients.

Singular vectors and eigenvectors are defined only up to a phase per vector (a sign for real input), and not
at all for repeated values; as in PyTorch, the gradients assume distinct values (repeated ones give inf or nan)
and, for complex input, a loss that does not depend on the phase (else backward raises, as PyTorch's does).
The values alone (``svdvals``, ``eigvalsh``) have gradients everywhere.
"""
from ..autograd.function import Function
from ..backend import get_array_module
from ..tensor import Tensor
from ._common import (EighResult, SVDResult, as_floating, check_matrix, check_square, constant_eye, diag_embed,
                      diagonal_of, mH, off_diagonal, raw, run_lapack)


class SVD(Function):
    """U, S and Vh of the singular value decomposition; PyTorch's gradient."""

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
    """Eigenvalues and eigenvectors of Hermitian matrices; PyTorch's gradient."""

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

