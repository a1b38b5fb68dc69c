"""Determinants: ``det`` and ``slogdet``, with PyTorch's gradients (conjugate Wirtinger for complex input); at a
singular matrix det's gradient is the cofactor matrix, computed through the SVD as PyTorch does."""
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import conj, namespace_of
from ._common import SlogdetResult, as_floating, check_square, constant_eye, linalg_of, mH, raw


class Det(Function):
    """Determinants; the gradient is g times the conjugated cofactor matrix."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        d = xp.asarray(xp.linalg.det(x))
        ctx.save_for_backward(x, d)
        return d

    @staticmethod
    def backward(ctx, g):
        x, d = ctx.saved_tensors
        la = linalg_of(namespace_of(g, x, d))
        if not (raw(d) == 0).any():
            # d det = det * tr(inv(x) dx)
            return (g * conj(d))[..., None, None] * mH(la.inv(x))
        # a singular matrix: the cofactors through the SVD, as PyTorch's (x = U S Vh, cof = det(U Vh) U P Vh with
        # P_i the product of the other singular values)
        u, s, vh = la.svd(x)
        n = s.shape[-1]
        eye = constant_eye(s, n)
        others = (s[..., None, :] * (1 - eye) + eye).prod(axis=-1)
        alpha = conj(la.det(u) * la.det(vh)) * g
        return (u * (alpha[..., None] * others)[..., None, :]) @ vh


def det(x, /):
    """The determinant of each square matrix."""
    x = as_floating(x, "det")
    check_square(x, "det")
    return Det.apply(x)


class Slogdet(Function):
    """Sign and log-magnitude of determinants; the sign is differentiable only for complex input."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        sign, logabsdet = (xp.asarray(v) for v in xp.linalg.slogdet(x))
        if sign.dtype.kind != "c":
            ctx.mark_non_differentiable(sign)  # a real sign is piecewise constant
        ctx.save_for_backward(x, sign)
        return sign, logabsdet

    @staticmethod
    def backward(ctx, gsign, glogabsdet):
        x, sign = ctx.saved_tensors
        c = glogabsdet
        if sign.dtype.kind == "c":
            # sign = exp(i Im log det): it moves with the imaginary part of tr(inv(x) dx)
            w = conj(sign) * gsign
            c = c + (w - conj(w)) * 0.5
        return c[..., None, None] * mH(linalg_of(namespace_of(c, x, sign)).inv(x))


def slogdet(x, /):
    """Sign (a unit complex number for complex input) and natural log of the absolute value of the determinant:
    ``SlogdetResult(sign, logabsdet)``."""
    x = as_floating(x, "slogdet")
    check_square(x, "slogdet")
    return SlogdetResult(*Slogdet.apply(x))
