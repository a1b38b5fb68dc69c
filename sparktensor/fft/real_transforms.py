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


def _hfft(xp, x, sizes, axes, norm):
    return xp.fft.hfft(x, n=sizes[0], axis=axes[0], norm=norm)


def _ihfft(xp, x, sizes, axes, norm):
    return xp.fft.ihfft(x, n=sizes[0], axis=axes[0], norm=norm)


def _back(ctx, gx):
    return grad_for(resize(gx, ctx.meta[0], ctx.axes), ctx.meta), None, None, None


class _OneSided(Function):
    """``transform(xp, x, sizes, axes, norm)`` of ``x`` taken as real (``real_input``) or as complex, the result
    complex or real in the input's precision."""
    transform_name, transform, real_input = None, None, True

    @classmethod
    def forward(cls, ctx, x, sizes, axes, norm):
        ctx.meta, ctx.sizes, ctx.axes, ctx.norm = meta(x), sizes, axes, norm
        input_dtype = (real_dtype if cls.real_input else complex_dtype)(cls.transform_name, x.dtype)
        x = x if x.dtype == input_dtype else x.astype(input_dtype)
        result_dtype = (complex_dtype if cls.real_input else real_dtype)(cls.transform_name, x.dtype)
        return cls.transform(get_array_module(x), x, sizes, axes, norm).astype(result_dtype, copy=False)


class RealToHalf(_OneSided):
    """``rfft``/``rfftn``."""
    transform_name, transform, real_input = "rfft", staticmethod(_r2h), True

    @staticmethod
    def backward(ctx, gy):
        weighted = gy * hermitian_weights(gy, ctx.sizes[-1], ctx.axes[-1], 0.5)
        return _back(ctx, _h2r(namespace_of(gy), weighted, ctx.sizes, ctx.axes, adjoint_norm(ctx.norm)))


class HalfToReal(_OneSided):
    """``irfft``/``irfftn``."""
    transform_name, transform, real_input = "irfft", staticmethod(_h2r), False

    @staticmethod
    def backward(ctx, gy):
        gx = _r2h(namespace_of(gy), gy, None, ctx.axes, adjoint_norm(ctx.norm))
        return _back(ctx, gx * hermitian_weights(gx, ctx.sizes[-1], ctx.axes[-1], 2.0))


class Hfft(_OneSided):
    """``hfft``: ``irfft`` of the conjugate, scaled as the forward transform."""
    transform_name, transform, real_input = "hfft", staticmethod(_hfft), False

    @staticmethod
    def backward(ctx, gy):
        gx = _r2h(namespace_of(gy), gy, None, ctx.axes, ctx.norm)
        return _back(ctx, conj(gx * hermitian_weights(gx, ctx.sizes[-1], ctx.axes[-1], 2.0)))


class Ihfft(_OneSided):
    """``ihfft``: the conjugate of ``rfft``, scaled as the inverse transform."""
    transform_name, transform, real_input = "ihfft", staticmethod(_ihfft), True

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
