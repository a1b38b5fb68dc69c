"""The sample frequencies of a transform (``fftfreq``, ``rfftfreq``) and the shifts that centre them
(``fftshift``, ``ifftshift``)."""
import numpy as np

from .. import creation, dtypes
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import namespace_of, normalize_axis
from ._arguments import as_tensor


def _frequencies(name, numpy_frequencies, n, d, dtype, device):
    if isinstance(n, bool) or not hasattr(n, "__index__") or int(n) < 1:
        raise ValueError(f"{name}: n must be a positive int (the transform's length), got {n!r}")
    if d == 0:
        raise ValueError(f"{name}: the sample spacing d must not be 0")
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name}: dtype must be a real floating dtype, got {dtype}")
    return creation.as_tensor(numpy_frequencies(int(n), d).astype(dtype), device=device)


def fftfreq(n, /, *, d=1.0, dtype=None, device=None):
    """The frequencies of ``fft``'s ``n`` outputs for samples ``d`` apart: ``[0, 1, ..., -1] / (d*n)``."""
    return _frequencies("fftfreq", np.fft.fftfreq, n, d, dtype, device)


def rfftfreq(n, /, *, d=1.0, dtype=None, device=None):
    """The frequencies of ``rfft``'s ``n//2 + 1`` outputs for samples ``d`` apart: ``[0, 1, ..., n//2] / (d*n)``."""
    return _frequencies("rfftfreq", np.fft.rfftfreq, n, d, dtype, device)


class Shift(Function):
    """``fftshift``/``ifftshift``: ``inverse`` picks the direction."""

    @staticmethod
    def forward(ctx, x, axes, inverse):
        ctx.axes, ctx.inverse = axes, inverse
        xp = get_array_module(x)
        return (xp.fft.ifftshift if inverse else xp.fft.fftshift)(x, axes=axes)

    @staticmethod
    def backward(ctx, gy):
        # a shift is a roll, whose adjoint is the roll back
        xp = namespace_of(gy)
        return (xp.fft.fftshift if ctx.inverse else xp.fft.ifftshift)(gy, axes=ctx.axes), None, None


def fftshift(x, /, *, axes=None, dim=None):
    """``x`` rolled so the zero frequency is in the middle of ``axes`` (all by default)."""
    return _shift("fftshift", x, axes, dim, False)


def ifftshift(x, /, *, axes=None, dim=None):
    """The inverse of ``fftshift``: the zero frequency back at the start of ``axes``."""
    return _shift("ifftshift", x, axes, dim, True)


def _shift(name, x, axes, dim, inverse):
    if axes is not None and dim is not None:
        raise TypeError(f"{name}: give the axes once, as axes= (the standard's name) or dim= (PyTorch's)")
    x = as_tensor(x)
    return Shift.apply(x, normalize_axis(axes if dim is None else dim, x.ndim), inverse)
