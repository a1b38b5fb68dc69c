"""Creating tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``empty``, ``arange``, ``linspace``, ``eye``, ``*_like``."""
import sys
import warnings

import numpy as np

from . import backend, dtypes
from .autograd.grad_mode import is_grad_enabled
from .tensor import GradientDroppedWarning, Tensor


def normalize_shape(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _list_module(data):
    """CuPy for a (nested) list that holds CuPy arrays, which it stacks where they are; NumPy otherwise."""
    if "cupy" in sys.modules and isinstance(data, (list, tuple)):
        for item in data:
            xp = _list_module(item) if isinstance(item, (list, tuple)) else backend.get_array_module(item)
            if xp is not np:
                return xp
    return np


def as_array(data, dtype=None, device=None, copy=False):
    """An array on ``device`` from any array-like; Python floats become float32 unless ``dtype`` says otherwise."""
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.generic):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        array = data
    else:
        array = _list_module(data).asarray(data)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"cannot make a tensor from data of dtype {array.dtype} ({type(data).__name__})")
        if dtype is None and array.dtype.kind in "fci" and not _carries_dtype(data):
            # the float32 default is for Python numbers; NumPy scalars, arrays and tensors keep their dtype
            dtype = {"f": dtypes.get_default_dtype(), "c": dtypes.default_complex()}.get(array.dtype.kind,
                                                                                         dtypes.int64)
    target = backend.device_of(array) if device is None else backend.parse_device(device)
    array = backend.to_device(array, target)
    xp = backend.get_array_module(array)
    if dtype is not None and array.dtype != dtype:
        return array.astype(dtype)
    if array.dtype not in dtypes.SUPPORTED:
        raise TypeError(f"dtype {array.dtype} is not supported; pass dtype= to convert")
    return xp.array(array, copy=True) if copy else array


def _carries_dtype(data):
    """True when a value in (nested lists or tuples of) ``data`` is a NumPy scalar, an array or a tensor."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (np.generic, np.ndarray, Tensor)) or hasattr(item, "__array__"):
            return True
    return False


def _unwrap(data):
    """``data`` with its tensors replaced by their arrays; ``True`` when one of them requires grad."""
    if isinstance(data, Tensor):
        return data.data, data.requires_grad
    if isinstance(data, (list, tuple)) and _carries_dtype(data):
        items = [_unwrap(item) for item in data]
        return [array for array, _ in items], any(grad for _, grad in items)
    return data, False


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (a list, scalar, NumPy/CuPy array or tensor)."""
    data, drops_grad = _unwrap(data)
    if drops_grad and is_grad_enabled():
        warnings.warn("st.tensor copies values out of a tensor that requires grad, and the copy keeps no gradient; "
                      "say so with .detach(), or build the tensor with st.stack/st.cat to keep the graph",
                      GradientDroppedWarning, stacklevel=2)
    return Tensor(as_array(data, dtype, device, copy=True), requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """A tensor that shares memory with ``data`` where its dtype and device allow."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(as_array(data, dtype, device))


def from_numpy(array):
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(as_array(array))


def _filled(fill, shape, dtype, device, requires_grad, default=None):
    device = backend.parse_device(device)
    xp = backend.array_module_for(device)
    dtype = dtypes.as_dtype(dtype) or default or dtypes.get_default_dtype()
    with backend.device_context(device):
        data = fill(xp, shape, dtype)
    return Tensor(data, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    return _filled(lambda xp, s, d: xp.zeros(s, d), normalize_shape(shape), dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of ones."""
    return _filled(lambda xp, s, d: xp.ones(s, d), normalize_shape(shape), dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor whose values are not initialized."""
    return _filled(lambda xp, s, d: xp.empty(s, d), normalize_shape(shape), dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value``; its dtype follows the value when ``dtype`` is not given."""
    shape = normalize_shape((shape,)) if isinstance(shape, (tuple, list)) else (int(shape),)
    default = dtypes.bool if isinstance(fill_value, (bool, np.bool_)) else (
        dtypes.int64 if isinstance(fill_value, (int, np.integer)) else dtypes.get_default_dtype())
    return _filled(lambda xp, s, d: xp.full(s, fill_value, d), shape, dtype, device, requires_grad, default)


def _like(x, dtype, device):
    return (dtype if dtype is not None else x.dtype), (device if device is not None else x.device)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape (and by default dtype and device) of ``x``."""
    dtype, device = _like(x, dtype, device)
    return zeros(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    """Ones with the shape (and by default dtype and device) of ``x``."""
    dtype, device = _like(x, dtype, device)
    return ones(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    """An uninitialized tensor with the shape (and by default dtype and device) of ``x``."""
    dtype, device = _like(x, dtype, device)
    return empty(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` with the shape (and by default dtype and device) of ``x``."""
    dtype, device = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False):
    """Evenly spaced values in ``[start, stop)``; int64 for integer arguments, float32 otherwise."""
    if stop is None:
        start, stop = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    default = dtypes.int64 if integral else dtypes.get_default_dtype()
    return _filled(lambda xp, s, d: xp.arange(start, stop, step).astype(d), None, dtype, device,
                   requires_grad, default)


def linspace(start, stop, num=50, endpoint=True, dtype=None, device=None, requires_grad=False):
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    return _filled(lambda xp, s, d: xp.linspace(start, stop, int(num), endpoint=endpoint).astype(d), None,
                   dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """A 2-D tensor with ones on the diagonal."""
    return _filled(lambda xp, s, d: xp.eye(int(n), None if m is None else int(m), dtype=d), None, dtype, device,
                   requires_grad)
