"""Moving between devices and dtypes; copies that stay in the graph."""
from .. import backend, dtypes
from ..autograd.function import Function
from ._grad_utils import differentiable, grad_for


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, gy):
        return differentiable(ToDevice, gy, ctx.source), None


class AsType(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        # a real input's gradient from a complex output is its real part (PyTorch's convention)
        return grad_for(gy, (gy.shape, ctx.source)), None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy


def to_device(x, device):
    """``x`` on ``device`` (itself when already there)."""
    if x.device == device:
        return x
    return ToDevice.apply(x, device)


def astype(x, dtype):
    """``x`` converted to ``dtype`` (itself when already of that dtype)."""
    dtype = dtypes.as_dtype(dtype)
    if dtype is None:
        raise TypeError("astype needs a dtype, e.g. st.float32")
    if x.dtype == dtype:
        return x
    return AsType.apply(x, dtype)


def clone(x):
    """A copy of ``x`` whose gradient flows back to ``x``."""
    return Clone.apply(x)
