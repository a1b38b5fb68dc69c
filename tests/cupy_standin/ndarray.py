"""The stand-in's array: NumPy data that refuses to become a NumPy array implicitly."""
import collections
import operator

import numpy as np

from .convert import call, unwrap, wrap

# every read of device data by the host, by the method that made it: a GPU waits for each one
HOST_READS = collections.Counter()

# attributes that would let NumPy read the data behind the wrapper's back
_HIDDEN = {"ctypes", "tofile", "dump", "dumps", "__array_interface__", "__array_struct__"}


class Device:
    """The one device of the stand-in (``cupy.cuda.Device``)."""

    def __init__(self, device=None):
        index = 0 if device is None else int(getattr(device, "id", device))
        if index != 0:
            raise RuntimeError(f"CUDARuntimeError: cudaErrorInvalidDevice: device {index} (the stand-in has 1)")
        self.id = index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class _MemoryPointer:
    """What ``cupy.ndarray.data`` is: a device pointer, not the values."""

    def __init__(self, array):
        self.ptr = array.__array_interface__["data"][0]
        self.device = Device(0)


def _binary(op):
    def forward(self, other):
        if not _operand(other):
            return NotImplemented
        return wrap(op(self._a, unwrap(other)))

    def reflected(self, other):
        if not _operand(other):
            return NotImplemented
        return wrap(op(unwrap(other), self._a))

    return forward, reflected


def _inplace(op):
    def inplace(self, other):
        if not _operand(other):
            return NotImplemented
        op(self._a, unwrap(other))
        return self
    return inplace


def _operand(other):
    """Whether a binary op takes ``other`` itself; unknown types get their reflected op (Tensor's, say)."""
    if isinstance(other, (ndarray, int, float, complex, bool, np.generic, list, tuple, np.ndarray)):
        return True
    return False


class ndarray:
    """A device array of the stand-in (``cupy.ndarray``): NumPy data behind a strict wall."""

    __array_priority__ = 100
    __module__ = "cupy"  # as CuPy's: code and tests read the array module's name off the type

    def __init__(self, array):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"ndarray(shape) is not supported by the stand-in; use cupy.empty (got {type(array)})")
        object.__setattr__(self, "_a", array)

    # ----- the wall -----
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # CuPy has this method (it runs its own ufunc); the stand-in refuses, so NumPy's ufuncs on device data fail
        raise TypeError(f"numpy.{ufunc.__name__} was given a device array (CuPy stand-in): use the array module "
                        f"of the data (xp = get_array_module(x)) or move it with .get()")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"{func.__module__}.{func.__name__} was given a device array (CuPy stand-in): "
                        f"use the array module of the data (xp = get_array_module(x)) or move it with .get()")

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy of the data: the explicit way to the host."""
        HOST_READS["get"] += 1
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        """Copy host data into this array."""
        self._a[...] = arr

    # ----- what CuPy's arrays have -----
    @property
    def device(self):
        return Device(0)

    @property
    def data(self):
        return _MemoryPointer(self._a)

    @property
    def base(self):
        base = self._a.base
        return ndarray(base) if isinstance(base, np.ndarray) else None

    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def strides(self):
        return self._a.strides

    def __getattr__(self, name):
        if name.startswith("__") or name in _HIDDEN or name == "_a":
            raise AttributeError(f"'cupy.ndarray' (stand-in) has no attribute {name!r}")
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: call(value, args, kwargs)
        return wrap(value)

    def __setattr__(self, name, value):
        if name in ("real", "imag"):
            setattr(self._a, name, unwrap(value))
        else:
            raise AttributeError(f"cannot set {name!r} on a cupy.ndarray (stand-in)")

    def item(self):
        HOST_READS["item"] += 1
        return self._a.item()

    def tolist(self):
        HOST_READS["tolist"] += 1
        return self._a.tolist()

    def __getitem__(self, index):
        return wrap(self._a[unwrap(index, host_ok=True)])

    def __setitem__(self, index, value):
        self._a[unwrap(index, host_ok=True)] = unwrap(value, host_ok=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (wrap(row) for row in self._a)

    def __bool__(self):
        HOST_READS["__bool__"] += 1
        return bool(self._a)

    def __float__(self):
        HOST_READS["__float__"] += 1
        return float(self._a)

    def __int__(self):
        HOST_READS["__int__"] += 1
        return int(self._a)

    def __complex__(self):
        HOST_READS["__complex__"] += 1
        return complex(self._a)

    def __index__(self):
        HOST_READS["__index__"] += 1
        return operator.index(self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec) if self._a.ndim == 0 else str(self)

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def __reduce__(self):
        return (ndarray, (self._a,))

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __neg__(self):
        return wrap(-self._a)

    def __pos__(self):
        return wrap(+self._a)

    def __abs__(self):
        return wrap(abs(self._a))

    def __invert__(self):
        return wrap(~self._a)

    __hash__ = None


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("matmul", operator.matmul), ("and", operator.and_),
                   ("or", operator.or_), ("xor", operator.xor), ("lshift", operator.lshift),
                   ("rshift", operator.rshift), ("divmod", divmod)]:
    _forward, _reflected = _binary(_op)
    setattr(ndarray, f"__{_name}__", _forward)
    setattr(ndarray, f"__r{_name}__", _reflected)
    if _name != "divmod":
        setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))

for _name, _op in [("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
                   ("eq", operator.eq), ("ne", operator.ne)]:
    setattr(ndarray, f"__{_name}__", _binary(_op)[0])
