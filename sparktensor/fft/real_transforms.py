"""The transforms between real signals and one-sided (Hermitian) spectra: ``rfft``, ``irfft``, ``rfftn``,
``irfftn``, ``hfft``, ``ihfft`` (and NumPy's ``rfft2``, ``irfft2``).

A one-sided spectrum keeps ``n//2 + 1`` of the ``n`` coefficients of a real signal; each left-out one is the
conjugate of one kept. So the adjoints weigh the kept entries whose mirror image is left out (indices 1 ..
``n - n//2 - 1`` of the last axis): halved on the way into ``irfft`` (which counts them twice), doubled on the
way out of ``rfft`` (which counts them once), as PyTorch's gradients do.
"""
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import conj, grad_for, meta, namespace_of
from ._arguments import (adjoint_norm, as_tensor, axes_or_dim, check_norm, check_real, complex_dtype,
                         hermitian_weights, many_axes, one_axis, real_dtype, resize)


def _r2h(xp, x, sizes, axes, norm):
    """``xp.fft``'s real-to-one-sided transform over ``axes`` (``sizes=None`` keeps the lengths)."""
    if len(axes) == 1:
        return xp.fft.rfft(x, n=None if sizes is None else sizes[0], axis=axes[0], norm=norm)
    return xp.fft.rfftn(x, s=sizes, axes=axes, norm=norm)


def _h2r(xp, x, sizes, axes, norm):
    """``xp.fft``'s one-sided-to-real transform over ``axes``, giving lengths ``sizes``."""
    if len(axes) == 1:
        return xp.fft.irfft(x, n=sizes[0], axis=axes[0], norm=norm)
    return xp.fft.irfftn(x, s=sizes, axes=axes, norm=norm)


def _remember(ctx, x, sizes, axes, norm):
    ctx.meta, ctx.sizes, ctx.axes, ctx.norm = meta(x), sizes, axes, norm


def _real_input(x):
    dtype = real_dtype("rfft", x.dtype)
    return x if x.dtype == dtype else x.astype(dtype)


def _complex_input(x):
    dtype = complex_dtype("irfft", x.dtype)
    return x if x.dtype == dtype else x.astype(dtype)


def _back(ctx, gx):
    return grad_for(resize(gx, ctx.meta[0], ctx.axes), ctx.meta), None, None, None


class RealToHalf(Function):
    """``rfft``/``rfftn``."""

    @staticmethod
    def forward(ctx, x, sizes, axes, norm):
        _remember(ctx, x, sizes, axes, norm)
        x = _real_input(x)
        return _r2h(get_array_module(x), x, sizes, axes, norm).astype(complex_dtype("rfft", x.dtype), copy=False)

    @staticmethod
    def backward(ctx, gy):
        weighted = gy * hermitian_weights(gy, ctx.sizes[-1], ctx.axes[-1], 0.5)
        return _back(ctx, _h2r(namespace_of(gy), weighted, ctx.sizes, ctx.axes, adjoint_norm(ctx.norm)))


class HalfToReal(Function):
    """``irfft``/``irfftn``."""

    @staticmethod
    def forward(ctx, x, sizes, axes, norm):
        _remember(ctx, x, sizes, axes, norm)
        x = _complex_input(x)
        return _h2r(get_array_module(x), x, sizes, axes, norm).astype(real_dtype("irfft", x.dtype), copy=False)

    @staticmethod
    def backward(ctx, gy):
        gx = _r2h(namespace_of(gy), gy, None, ctx.axes, adjoint_norm(ctx.norm))
        return _back(ctx, gx * hermitian_weights(gx, ctx.sizes[-1], ctx.axes[-1], 2.0))


class Hfft(Function):
    """``hfft``: ``irfft`` of the conjugate, scaled as the forward transform."""

    @staticmethod
    def forward(ctx, x, sizes, axes, norm):
        _remember(ctx, x, sizes, axes, norm)
        x = _complex_input(x)
        y = get_array_module(x).fft.hfft(x, n=sizes[0], axis=axes[0], norm=norm)
        return y.astype(real_dtype("hfft", x.dtype), copy=False)

    @staticmethod
    def backward(ctx, gy):
        gx = _r2h(namespace_of(gy), gy, None, ctx.axes, ctx.norm)
        return _back(ctx, conj(gx * hermitian_weights(gx, ctx.sizes[-1], ctx.axes[-1], 2.0)))


class Ihfft(Function):
    """``ihfft``: the conjugate of ``rfft``, scaled as the inverse transform."""

    @staticmethod
    def forward(ctx, x, sizes, axes, norm):
        _remember(ctx, x, sizes, axes, norm)
        x = _real_input(x)
        y = get_array_module(x).fft.ihfft(x, n=sizes[0], axis=axes[0], norm=norm)
        return y.astype(complex_dtype("ihfft", x.dtype), copy=False)

    @staticmethod
    def backward(ctx, gy):
        weighted = conj(gy) * hermitian_weights(gy, ctx.sizes[-1], ctx.axes[-1], 0.5)
        return _back(ctx, _h2r(namespace_of(gy), weighted, ctx.sizes, ctx.axes, ctx.norm))


def _double_minus_two(m):
    return 2 * (m - 1)


def _one(name, op, real_input, default_n=None):
    def transform(x, /, *, n=None, axis=-1, norm="backward", dim=None):
        x = as_tensor(x)
        if real_input:
            check_real(name, x)
        sizes, axes = one_axis(name, x, n, axes_or_dim(name, axis, -1, dim), default_n)
        return op.apply(x, sizes, axes, check_norm(name, norm))
    transform.__name__ = transform.__qualname__ = name
    return transform


def _many(name, op, real_input, default_last=None, default_axes=None):
    def transform(x, /, *, s=None, axes=default_axes, norm="backward", dim=None):
        x = as_tensor(x)
        if real_input:
            check_real(name, x)
        sizes, axes = many_axes(name, x, s, axes_or_dim(name, axes, default_axes, dim), default_last)
        return op.apply(x, sizes, axes, check_norm(name, norm))
    transform.__name__ = transform.__qualname__ = name
    return transform


rfft = _one("rfft", RealToHalf, True)
rfft.__doc__ = "The transform of a real signal along ``axis``: the ``n//2 + 1`` non-negative frequencies."
irfft = _one("irfft", HalfToReal, False, _double_minus_two)
irfft.__doc__ = ("The real signal of length ``n`` (default ``2*(m - 1)``) whose one-sided spectrum along ``axis`` "
                 "is ``x``: the inverse of ``rfft``.")
rfftn = _many("rfftn", RealToHalf, True)
rfftn.__doc__ = "The n-dimensional transform of a real signal, one-sided along the last of ``axes``."
irfftn = _many("irfftn", HalfToReal, False, _double_minus_two)
irfftn.__doc__ = "The inverse of ``rfftn``: a real signal of sizes ``s`` (the last default ``2*(m - 1)``)."
rfft2 = _many("rfft2", RealToHalf, True, None, (-2, -1))
rfft2.__doc__ = "NumPy's and PyTorch's ``rfft2``: ``rfftn`` over the last two axes by default."
irfft2 = _many("irfft2", HalfToReal, False, _double_minus_two, (-2, -1))
irfft2.__doc__ = "NumPy's and PyTorch's ``irfft2``: ``irfftn`` over the last two axes by default."
hfft = _one("hfft", Hfft, False, _double_minus_two)
hfft.__doc__ = "The real spectrum (length ``n``, default ``2*(m - 1)``) of a signal with Hermitian symmetry given " \
               "by its first half ``x``."
ihfft = _one("ihfft", Ihfft, True)
ihfft.__doc__ = "The inverse of ``hfft``: the first half (``n//2 + 1`` values) of the inverse transform of a real " \
                "signal."
