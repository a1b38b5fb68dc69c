"""PyTorch's ``view_as_real`` and ``view_as_complex``: a complex tensor as pairs of real numbers and back,
differentiable both ways (the values are copied, not viewed)."""
from ..autograd.function import Function
from ..backend import get_array_module
from ..ops._grad_utils import namespace_of
from ._arguments import as_tensor


class AsReal(Function):
    """``view_as_real``."""

    @staticmethod
    def forward(ctx, z):
        xp = get_array_module(z)
        return xp.stack([z.real, z.imag], axis=-1)

    @staticmethod
    def backward(ctx, gy):
        # the gradient of z is dL/d(re z) + i dL/d(im z) (PyTorch's convention)
        return gy[..., 0] + 1j * gy[..., 1]


class AsComplex(Function):
    """``view_as_complex``."""

    @staticmethod
    def forward(ctx, pairs):
        return pairs[..., 0] + 1j * pairs[..., 1]

    @staticmethod
    def backward(ctx, gz):
        xp = namespace_of(gz)
        return xp.stack([xp.real(gz), xp.imag(gz)], axis=-1)


def view_as_real(x, /):
    """A complex tensor of shape ``(...)`` as a real one of shape ``(..., 2)``: real and imaginary parts."""
    x = as_tensor(x)
    if x.dtype.kind != "c":
        raise TypeError(f"view_as_real: takes a complex tensor, got {x.dtype}")
    return AsReal.apply(x)


def view_as_complex(x, /):
    """A real tensor of shape ``(..., 2)`` (float32 or float64) as a complex one of shape ``(...)``."""
    x = as_tensor(x)
    if x.dtype.kind != "f" or x.dtype.itemsize < 4:
        raise TypeError(f"view_as_complex: takes a float32 or float64 tensor, got {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"view_as_complex: the last axis must have length 2 (real, imaginary), got shape "
                         f"{x.shape}")
    return AsComplex.apply(x)
