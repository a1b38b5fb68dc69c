"""The complex-to-complex transforms: ``fft``, ``ifft``, ``fftn``, ``ifftn`` (and NumPy's ``fft2``, ``ifft2``)."""
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import grad_for, meta, namespace_of
from ._arguments import adjoint_norm, as_tensor, axes_or_dim, check_norm, complex_dtype, many_axes, one_axis, resize


def _c2c(xp, x, sizes, axes, norm, inverse):
    """``xp.fft``'s transform of ``x`` over ``axes`` (``sizes=None`` keeps the lengths)."""
    if len(axes) == 1:
        return (xp.fft.ifft if inverse else xp.fft.fft)(x, n=None if sizes is None else sizes[0], axis=axes[0],
                                                        norm=norm)
    return (xp.fft.ifftn if inverse else xp.fft.fftn)(x, s=sizes, axes=axes, norm=norm)


class ComplexTransform(Function):
    """``fft``/``ifft``/``fftn``/``ifftn``: ``inverse`` picks the direction."""

    @staticmethod
    def forward(ctx, x, sizes, axes, norm, inverse):
        ctx.meta, ctx.axes, ctx.norm, ctx.inverse = meta(x), axes, norm, inverse
        dtype = complex_dtype("fft", x.dtype)
        if x.dtype.kind not in "fc" or x.dtype.itemsize < 4:
            x = x.astype(dtype)
        return _c2c(get_array_module(x), x, sizes, axes, norm, inverse).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        # the adjoint of a transform is the opposite transform, scaled the same way, resized back
        gx = _c2c(namespace_of(gy), gy, None, ctx.axes, adjoint_norm(ctx.norm), not ctx.inverse)
        return grad_for(resize(gx, ctx.meta[0], ctx.axes), ctx.meta), None, None, None, None


def _one(name, inverse):
    def transform(x, /, *, n=None, axis=-1, norm="backward", dim=None):
        x = as_tensor(x)
        sizes, axes = one_axis(name, x, n, axes_or_dim(name, axis, -1, dim))
        return ComplexTransform.apply(x, sizes, axes, check_norm(name, norm), inverse)
    transform.__name__ = transform.__qualname__ = name
    return transform


def _many(name, inverse, default_axes=None):
    def transform(x, /, *, s=None, axes=default_axes, norm="backward", dim=None):
        x = as_tensor(x)
        sizes, axes = many_axes(name, x, s, axes_or_dim(name, axes, default_axes, dim))
        return ComplexTransform.apply(x, sizes, axes, check_norm(name, norm), inverse)
    transform.__name__ = transform.__qualname__ = name
    return transform


fft = _one("fft", False)
fft.__doc__ = "The one-dimensional discrete Fourier transform along ``axis`` (``n`` crops or zero-pads first)."
ifft = _one("ifft", True)
ifft.__doc__ = "The one-dimensional inverse discrete Fourier transform along ``axis``."
fftn = _many("fftn", False)
fftn.__doc__ = "The n-dimensional discrete Fourier transform over ``axes`` (all by default; ``s`` resizes first)."
ifftn = _many("ifftn", True)
ifftn.__doc__ = "The n-dimensional inverse discrete Fourier transform over ``axes``."
fft2 = _many("fft2", False, (-2, -1))
fft2.__doc__ = "NumPy's and PyTorch's ``fft2``: ``fftn`` over the last two axes by default."
ifft2 = _many("ifft2", True, (-2, -1))
ifft2.__doc__ = "NumPy's and PyTorch's ``ifft2``: ``ifftn`` over the last two axes by default."
