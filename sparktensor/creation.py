"""Creating tensors: ``tensor``, ``asarray``, ``zeros``, ``ones``, ``full``, ``empty``, ``arange``, ``linspace``,
``eye``, ``*_like``, ``from_dlpack``, and the Array API's ``tril``, ``triu`` and ``meshgrid``.

The functions take the Array API standard's arguments and PyTorch's (``zeros(2, 3)``, ``requires_grad=``); where
NumPy passes an argument by position (``zeros((2, 3), dtype)``, ``eye(n, m, k)``, ``tril(x, k)``) its order is
kept too, so backward formulas can call them as ``xp.<name>`` on Tensors as on arrays.
"""
import sys
import warnings

import numpy as np

from . import backend, dtypes
from .autograd.function import Function
from .autograd.grad_mode import is_grad_enabled
from .ops import conversion as C, shape as S
from .ops._grad_utils import namespace_of
from .tensor import GradientDroppedWarning, Tensor


def normalize_shape(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"a shape is ints, or one tuple of ints; got {shape!r} (a dtype goes in dtype=)") from None


def _shape_and_dtype(args, dtype, name):
    """``(shape, dtype)`` from ``f(2, 3)``, ``f((2, 3))``, ``f(shape=(2, 3))`` and NumPy's ``f((2, 3), dtype)``."""
    if len(args) == 2 and isinstance(args[0], (tuple, list)):
        if dtype is not None:
            raise TypeError(f"{name}: dtype given twice, by position ({args[1]!r}) and as dtype={dtype!r}")
        return normalize_shape(args[:1]), args[1]
    return normalize_shape(args), dtype


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


def zeros(shape=(), *more, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    shape, dtype = _shape_and_dtype((shape, *more), dtype, "zeros")
    return _filled(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(shape=(), *more, dtype=None, device=None, requires_grad=False):
    """A tensor of ones."""
    shape, dtype = _shape_and_dtype((shape, *more), dtype, "ones")
    return _filled(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def empty(shape=(), *more, dtype=None, device=None, requires_grad=False):
    """A tensor whose values are not initialized."""
    shape, dtype = _shape_and_dtype((shape, *more), dtype, "empty")
    return _filled(lambda xp, s, d: xp.empty(s, d), shape, dtype, device, requires_grad)


def scalar_dtype(value):
    """The dtype a fill value gives: by its kind, as for Python numbers, bool, int64, the default float or its
    complex (PyTorch's rule, which for Python numbers is also the Array API's)."""
    kind = (value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype).kind
    if kind == "b":
        return dtypes.bool
    if kind in "iu":
        return dtypes.int64
    return dtypes.default_complex() if kind == "c" else dtypes.get_default_dtype()


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value``; its dtype follows the value when ``dtype`` is not given."""
    shape = normalize_shape((shape,)) if isinstance(shape, (tuple, list)) else (int(shape),)
    default = scalar_dtype(fill_value)
    if isinstance(fill_value, Tensor):
        if fill_value.ndim:
            raise ValueError(f"full: fill_value must be a scalar or a 0-d tensor, got shape {fill_value.shape}")
        fill_value = fill_value.item()
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
    """Evenly spaced values in ``[start, stop)``; int64 for integer arguments, the default float otherwise."""
    if stop is None:
        start, stop = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    default = dtypes.int64 if integral else dtypes.get_default_dtype()
    return _filled(lambda xp, s, d: xp.arange(start, stop, step).astype(d), None, dtype, device,
                   requires_grad, default)


def linspace(start, stop, num=50, endpoint=True, dtype=None, device=None, requires_grad=False):
    """``num`` evenly spaced values from ``start`` to ``stop`` (complex bounds give the default complex dtype)."""
    default = dtypes.default_complex() if isinstance(start, complex) or isinstance(stop, complex) else None
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"linspace: num must be a non-negative int, got {num!r}")
    return _filled(lambda xp, s, d: xp.linspace(start, stop, int(num), endpoint=endpoint).astype(d), None,
                   dtype, device, requires_grad, default)


def eye(n_rows, n_cols=None, k=0, dtype=None, device=None, requires_grad=False):
    """A 2-D tensor with ones on the ``k``-th diagonal (above the main one for ``k > 0``)."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"eye: k (the diagonal, third by position as in NumPy) must be an int, got {k!r}; pass "
                        f"the dtype as dtype=")
    return _filled(lambda xp, s, d: xp.eye(int(n_rows), None if n_cols is None else int(n_cols), int(k), dtype=d),
                   None, dtype, device, requires_grad)


def asarray(obj, dtype=None, *, device=None, copy=None):
    """A tensor of ``obj`` (the Array API's ``asarray``): a tensor stays in the graph (converted by ``astype``,
    copied by ``clone``); ``copy=None`` shares memory where it can, ``copy=True`` always copies, ``copy=False``
    never does and raises ``ValueError`` where it would have to."""
    if isinstance(obj, Tensor):
        t = obj if device is None else obj.to(device)
        t = t if dtype is None else C.astype(t, dtype)
        if t is not obj and copy is False:
            raise ValueError(f"asarray(copy=False): a {obj.dtype} tensor on {obj.device} cannot become "
                             f"{dtypes.as_dtype(dtype) or obj.dtype} on {device or obj.device} without a copy")
        return C.clone(t) if copy and t is obj else t
    if copy:
        return tensor(obj, dtype=dtype, device=device)
    if copy is None:
        return as_tensor(obj, dtype, device)
    if isinstance(obj, (list, tuple, bool, int, float, complex, np.generic)):
        raise ValueError(f"asarray(copy=False): a {type(obj).__name__} cannot become a tensor without a copy")
    t = as_tensor(obj, dtype, device)
    if not (t.data is obj or backend.get_array_module(t.data).shares_memory(t.data, obj)):
        raise ValueError(f"asarray(copy=False): this {type(obj).__name__} cannot become a {t.dtype} tensor on "
                         f"{t.device} without a copy")
    return t


def from_dlpack(x, /, *, device=None, copy=None):
    """A tensor of ``x`` through DLPack (a NumPy or CuPy array, a PyTorch tensor, a tensor): memory is shared
    unless ``copy=True``; ``copy=False`` raises where sharing is impossible (another ``device``)."""
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack expects an object with __dlpack__ (an array or tensor), got {type(x).__name__}")
    kind, index = x.__dlpack_device__()
    options = {} if copy is None else {"copy": copy}
    if kind in (1, 3):  # kDLCPU, kDLCUDAHost
        array = np.from_dlpack(x, **options)
    elif kind == 2:  # kDLCUDA
        with backend.device_context(f"cuda:{index}"):
            array = backend.import_cupy().from_dlpack(x, **options)
    else:
        raise BufferError(f"from_dlpack: the data is on DLPack device type {kind}, which is neither the CPU (1) nor "
                          f"CUDA (2)")
    out = Tensor(as_array(array))
    if device is not None and backend.parse_device(device) != out.device:
        if copy is False:
            raise ValueError(f"from_dlpack(copy=False): the data is on {out.device}, and {device} needs a copy")
        out = Tensor(backend.to_device(out.data, backend.parse_device(device)))
    return out


# ----- the Array API's creation functions that take tensors: differentiable -----
class Triangle(Function):
    @staticmethod
    def forward(ctx, x, k, upper):
        ctx.k, ctx.upper = k, upper
        xp = backend.get_array_module(x)
        return xp.triu(x, k) if upper else xp.tril(x, k)

    @staticmethod
    def backward(ctx, gy):
        # the same mask: the map is linear and its own adjoint
        xp = namespace_of(gy)
        return (xp.triu(gy, ctx.k) if ctx.upper else xp.tril(gy, ctx.k)), None, None


def _triangle(x, k, upper):
    name = "triu" if upper else "tril"
    if not isinstance(x, Tensor):
        x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{name} needs a tensor with at least 2 dimensions (matrices in the last two), got shape "
                         f"{x.shape}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"{name}: k (the diagonal) must be an int, got {k!r}")
    return Triangle.apply(x, int(k), upper)


def tril(x, k=0):
    """The lower triangle of the matrices in ``x``'s last two axes, zeros above diagonal ``k``."""
    return _triangle(x, k, False)


def triu(x, k=0):
    """The upper triangle of the matrices in ``x``'s last two axes, zeros below diagonal ``k``."""
    return _triangle(x, k, True)


def meshgrid(*arrays, indexing="xy", sparse=False, copy=True):
    """Coordinate tensors of the grid that 1-D ``arrays`` span (a tuple); ``indexing="xy"`` swaps the first two
    axes of the result (Cartesian), ``"ij"`` does not (matrix). Differentiable: each gradient sums over the axes
    its array was repeated along."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [a if isinstance(a, Tensor) else as_tensor(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ValueError(f"meshgrid expects 1-D tensors, argument {i} has shape {a.shape}")
    n = len(arrays)
    axes = list(range(n))
    if indexing == "xy" and n >= 2:
        axes[0], axes[1] = 1, 0
    shape = [0] * n
    for a, axis in zip(arrays, axes):
        shape[axis] = a.shape[0]
    out = []
    for a, axis in zip(arrays, axes):
        y = S.reshape(a, tuple(a.shape[0] if i == axis else 1 for i in range(n)))
        if not sparse:
            y = S.broadcast_to(y, tuple(shape))
            y = C.clone(y) if copy else y
        out.append(y)
    return tuple(out)
