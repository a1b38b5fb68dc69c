"""The stand-in's array modules (``cupy``, ``cupy.linalg``, ``cupy.random``, ...): NumPy's functions behind the wall.

Each function runs NumPy's on the unwrapped data and wraps the results; given a
NumPy array it raises ``TypeError`` as CuPy's do, except the functions that
exist to copy host data to the device (``asarray``, ``array``, ...).
"""
import functools
import sys
import types

import numpy as np
import scipy.special

from . import cuda as cuda_parts
from .convert import call, unwrap, wrap
from .ndarray import ndarray

# the functions that take host data and copy it to the device
_FROM_HOST = {"asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray"}
# names CuPy does not have, so code relying on them fails here as it would on a GPU
_MISSING = {"asmatrix", "matrix", "frompyfunc", "vectorize", "piecewise", "apply_along_axis",
            "apply_over_axes", "fromfile", "loadtxt", "genfromtxt", "save", "savez", "load"}


class ufunc:
    """A NumPy ufunc that takes and gives stand-in arrays (``cupy.ufunc``)."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__

    def __call__(self, *args, **kwargs):
        return call(self._u, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._u, name)
        if callable(value):
            return lambda *args, **kwargs: call(value, args, kwargs)
        return value

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (CuPy stand-in)>"


def _function(np_function, name):
    host_ok = name in _FROM_HOST

    @functools.wraps(np_function)
    def function(*args, **kwargs):
        if host_ok and args and isinstance(args[0], ndarray):
            result = np_function(args[0]._a, *unwrap(args[1:]), **unwrap(kwargs))
            return args[0] if result is args[0]._a else wrap(result)
        return call(np_function, args, kwargs, host_ok=host_ok)
    return function


def _delegating_module(name, source, extra=None):
    """A module whose missing names are ``source``'s, behind the wall (PEP 562 ``__getattr__``)."""
    module = types.ModuleType(name, f"CuPy stand-in for {source.__name__}")
    module.__dict__.update(extra or {})

    def __getattr__(attr):
        if attr.startswith("__") or attr in _MISSING:
            raise AttributeError(f"module {name!r} (CuPy stand-in) has no attribute {attr!r}")
        value = getattr(source, attr)
        if isinstance(value, np.ufunc):
            value = ufunc(value)
        elif value is np.ndarray:
            value = ndarray
        elif isinstance(value, types.ModuleType):
            raise AttributeError(f"module {name!r} (CuPy stand-in) has no submodule {attr!r}")
        elif callable(value) and not isinstance(value, type):
            value = _function(value, attr)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__
    return module


class _Proxy:
    """An object (a random generator, say) whose methods take and give stand-in arrays."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if callable(value):
            return lambda *args, **kwargs: call(value, args, kwargs)
        return wrap(value)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A NumPy array of ``a`` (copied from the device when it is a device array)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """The stand-in when any argument is one of its arrays, else NumPy."""
    for arg in args:
        if isinstance(arg, ndarray):
            return sys.modules["cupy"]
    return np


MODULE_NAMES = ("cupy", "cupy.cuda", "cupy.random", "cupy.linalg", "cupy.fft", "cupy.lib", "cupy.lib.stride_tricks",
                "cupyx", "cupyx.scipy", "cupyx.scipy.special")


def build_modules():
    """The stand-in's modules by the names they are imported under."""
    cuda = types.ModuleType("cupy.cuda", "CuPy stand-in for cupy.cuda")
    pool = cuda_parts.MemoryPool()
    cuda.__dict__.update(Device=cuda_parts.Device, Stream=cuda_parts.Stream, Event=cuda_parts.Event,
                         runtime=cuda_parts.runtime, get_current_stream=cuda_parts.get_current_stream,
                         is_available=cuda_parts.is_available, MemoryPool=cuda_parts.MemoryPool)
    random = _delegating_module("cupy.random", np.random, {
        "default_rng": lambda seed=None: _Proxy(np.random.default_rng(unwrap(seed))),
        "Generator": _Proxy})
    stride_tricks = _delegating_module("cupy.lib.stride_tricks", np.lib.stride_tricks)
    lib = _delegating_module("cupy.lib", np.lib, {"stride_tricks": stride_tricks})
    linalg = _delegating_module("cupy.linalg", np.linalg)
    fft = _delegating_module("cupy.fft", np.fft)
    cupy = _delegating_module("cupy", np, {
        "__cupy_standin__": True, "__version__": "13.3.0+standin", "ndarray": ndarray, "ufunc": ufunc,
        "asnumpy": asnumpy, "get_array_module": get_array_module, "cuda": cuda, "random": random,
        "linalg": linalg, "fft": fft, "lib": lib,
        "get_default_memory_pool": lambda: pool, "get_default_pinned_memory_pool": lambda: pool})
    special = _delegating_module("cupyx.scipy.special", scipy.special)
    scipy_part = types.ModuleType("cupyx.scipy", "CuPy stand-in for cupyx.scipy")
    scipy_part.special = special
    cupyx = types.ModuleType("cupyx", "CuPy stand-in for cupyx")
    cupyx.scipy = scipy_part
    return {"cupy": cupy, "cupy.cuda": cuda, "cupy.random": random, "cupy.linalg": linalg, "cupy.fft": fft,
            "cupy.lib": lib, "cupy.lib.stride_tricks": stride_tricks,
            "cupyx": cupyx, "cupyx.scipy": scipy_part, "cupyx.scipy.special": special}
