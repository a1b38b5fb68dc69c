"""``autocast``: matrix products and convolutions in float16 or bfloat16, losses in float32, as PyTorch's CPU autocast.

Inside ``with st.autocast("cpu", dtype=st.float16):`` the ops PyTorch runs in lower precision on the CPU
(``matmul``, ``bmm``, ``addmm``, ``baddbmm``, ``linear``, ``conv1d``/``conv2d``/``conv3d``, the transposed
convolutions and the LSTM layers; not the GRU and RNN layers, which PyTorch's CPU autocast leaves in float32) round their floating
inputs to the autocast dtype, multiply and add in float32, and round the result (PyTorch's CPU kernels accumulate
in float32 too). The losses PyTorch keeps in float32 get their float16 inputs in float32. The casts are graph
nodes, so gradients reach float32 parameters as float32: the weights themselves stay float32.

NumPy has no bfloat16. With ``dtype=st.bfloat16`` the values are rounded to bfloat16 (8 bits of mantissa, round to
nearest even) and stored in float32 arrays: the numbers PyTorch's bfloat16 tensors hold, under dtype float32.
"""
import functools
import threading

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ..tensor import Tensor


class _BFloat16:
    """The ``dtype=`` of bfloat16 autocast. NumPy has no bfloat16: values are rounded to it and kept in float32."""

    def __repr__(self):
        return "sparktensor.bfloat16"

    def __reduce__(self):
        return "bfloat16"


bfloat16 = _BFloat16()


class _State(threading.local):
    dtype = None  # None: autocast off; else np.float16 or bfloat16


_state = _State()


def _autocast_dtype(dtype):
    """``np.float16`` or ``bfloat16`` from what a caller passes (PyTorch's dtypes and names included)."""
    name = str(dtype).replace("torch.", "").replace("sparktensor.", "")
    if name in ("bfloat16",):
        return bfloat16
    if name in ("float16", "half"):
        return np.dtype(np.float16)
    raise TypeError(f"autocast: dtype must be float16 or bfloat16, got {dtype!r}; float32 and float64 need no "
                    f"autocast (leave it off)")


def is_autocast_enabled(device_type=None):
    """True inside an enabled ``autocast`` block."""
    return _state.dtype is not None


def get_autocast_dtype(device_type=None):
    """The dtype of the current ``autocast`` block (``bfloat16`` outside one: PyTorch's CPU default)."""
    return bfloat16 if _state.dtype is None else _state.dtype


class autocast:
    """Context manager and decorator: lower-precision matrix products and convolutions (see the module docstring).

    Args:
        device_type: ``"cpu"`` or ``"cuda"``; both get the CPU rules (the computation runs where the data is).
        dtype: ``st.float16`` or ``st.bfloat16`` (default bfloat16, PyTorch's CPU default).
        enabled: ``False`` turns autocast off inside the block (also inside an enclosing one).
        cache_enabled: accepted for PyTorch's sake; there is no cast cache.
    """

    def __init__(self, device_type="cpu", dtype=None, enabled=True, cache_enabled=None):
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        self.dtype = _autocast_dtype(bfloat16 if dtype is None else dtype)
        self.enabled = bool(enabled)

    def __enter__(self):
        self.saved = _state.dtype
        _state.dtype = self.dtype if self.enabled else None
        return self

    def __exit__(self, *exc):
        _state.dtype = self.saved
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(dtype=self.dtype, enabled=self.enabled):
                return fn(*args, **kwargs)
        return wrapper


# ----- rounding, as graph nodes -----
def round_to_bfloat16(x):
    """Float32 values rounded to the nearest bfloat16 (ties to even), as float32; NaN and inf stay."""
    xp = get_array_module(x)
    bits = xp.ascontiguousarray(xp.asarray(x, np.float32)).view(np.uint32)
    lsb = (bits >> 16) & xp.uint32(1)  # ties go to the even neighbour
    rounded = (bits + lsb + xp.uint32(0x7FFF)) & xp.uint32(0xFFFF0000)
    rounded = xp.where(xp.isnan(x), bits, rounded)
    return rounded.view(np.float32).reshape(x.shape)


def _rounded(x, low):
    """``x`` rounded to ``low`` precision, held in float32."""
    if low is bfloat16:
        return round_to_bfloat16(x.astype(np.float32, copy=False))
    return x.astype(low).astype(np.float32)


class _Lower(Function):
    """Round to the autocast precision, computed in float32; the gradient is rounded the same way on its way back,
    as a gradient of a low-precision tensor is, then given the input's dtype."""

    @staticmethod
    def forward(ctx, x, low):
        ctx.dtype, ctx.low = x.dtype, low
        return _rounded(x, low)

    @staticmethod
    def backward(ctx, gy):
        return _rounded(gy, ctx.low).astype(ctx.dtype, copy=False), None


class _Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy.astype(ctx.dtype), None


def _eligible(a):
    """Cast by autocast, as in PyTorch: float16 and float32 tensors (float64 stays float64)."""
    return isinstance(a, Tensor) and a.dtype in (np.float16, np.float32)


def _cast_args(args, kwargs, cast):
    args = tuple(cast(a) if _eligible(a) else a for a in args)
    kwargs = {k: cast(v) if _eligible(v) else v for k, v in kwargs.items()}
    return args, kwargs


def lower_precision(fn):
    """Decorate an op PyTorch's CPU autocast runs in lower precision: inputs rounded, float32 products, output
    rounded (float16 as the dtype float16; bfloat16 in float32 storage)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        low = _state.dtype
        if low is None or not any(_eligible(a) for a in (*args, *kwargs.values())):
            return fn(*args, **kwargs)
        args, kwargs = _cast_args(args, kwargs, lambda t: _Lower.apply(t, low))
        _state.dtype = None  # the op's own inner ops (bmm calls matmul) run on the rounded values as they are
        try:
            y = fn(*args, **kwargs)
        finally:
            _state.dtype = low
        if isinstance(y, tuple):  # an LSTM layer: (output, h_n, c_n)
            return type(y)(_lowered_output(t, low) if isinstance(t, Tensor) else t for t in y)
        return _lowered_output(y, low)
    return wrapper


def _lowered_output(y, low):
    y = _Lower.apply(y, low)
    return y if low is bfloat16 else _Cast.apply(y, low)


def float32_op(fn):
    """Decorate an op PyTorch's CPU autocast runs in float32: float16 inputs become float32."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _state.dtype is None:
            return fn(*args, **kwargs)
        args, kwargs = _cast_args(args, kwargs,
                                  lambda t: _Cast.apply(t, np.float32) if t.dtype == np.float16 else t)
        return fn(*args, **kwargs)
    return wrapper
