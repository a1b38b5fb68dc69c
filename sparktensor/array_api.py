"""``sparktensor`` as an Array API namespace (standard 2024.12): ``t.__array_namespace__()`` is the package itself.

Here are the namespace's own parts: its version and ``__array_namespace_info__``, the data type functions
(``astype``, ``can_cast``, ``finfo``, ``iinfo``, ``isdtype``, ``result_type``) and the constants. The creation
functions live in ``creation`` and are listed here so that the package exports their standard forms.

Promotion is NumPy 2's: where the standard defines the result of mixing two dtypes it is the same, and where it
leaves it undefined (an integer with a float, ``int64`` with ``uint64``) the result is NumPy's, so ``result_type``
always names the dtype an operation gives. Python scalars are weak (NEP 50): ``float32 + 1.0`` is ``float32``.
"""
import builtins
import math
from dataclasses import dataclass

import numpy as np

from . import backend, creation, dtypes
from .autograd.function import Function
from .creation import (arange, asarray, empty, empty_like, eye, from_dlpack, full, full_like, linspace, meshgrid,
                       ones, ones_like, tril, triu, zeros, zeros_like)
from .ops import conversion as C
from .ops._grad_utils import grad_for, meta
from .tensor import Tensor

__array_api_version__ = "2024.12"
SUPPORTED_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12")

e = math.e
inf = math.inf
nan = math.nan
pi = math.pi
newaxis = None

STANDARD_DTYPES = {d.name: d for d in (dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64,
                                       dtypes.uint8, dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.float32,
                                       dtypes.float64, dtypes.complex64, dtypes.complex128)}
KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu", "real floating": "f",
         "complex floating": "c", "numeric": "iufc"}


# ----- the namespace -----
class ArrayNamespaceInfo:
    """What ``__array_namespace_info__()`` answers: capabilities, devices and dtypes of this namespace."""

    def capabilities(self):
        """The optional features supported: boolean indexing, data-dependent shapes, up to 64 dimensions."""
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self):
        """The device arrays are made on without ``device=``: the CPU."""
        return "cpu"

    def devices(self):
        """The devices tensors can live on: ``"cpu"`` and each CUDA device CuPy sees."""
        found = ["cpu"]
        if backend.cuda_is_available():
            found += [f"cuda:{i}" for i in range(backend.import_cupy().cuda.runtime.getDeviceCount())]
        return found

    def default_dtypes(self, *, device=None):
        """The dtypes used without ``dtype=``: the default float (``set_default_dtype``), its complex, int64."""
        self._check(device)
        return {"real floating": dtypes.get_default_dtype(), "complex floating": dtypes.default_complex(),
                "integral": dtypes.int64, "indexing": dtypes.int64}

    def dtypes(self, *, device=None, kind=None):
        """The standard's dtypes by name, those of ``kind`` (a kind name, a dtype or a tuple of them) only."""
        self._check(device)
        return {name: d for name, d in STANDARD_DTYPES.items() if kind is None or isdtype(d, kind)}

    def _check(self, device):
        if device is not None and backend.parse_device(device) not in self.devices():
            raise ValueError(f"device {device!r} is not available here; devices: {self.devices()}")


def __array_namespace_info__():
    """The inspection object of the Array API: ``capabilities()``, ``default_device()``, ``devices()``,
    ``default_dtypes()``, ``dtypes()``."""
    return ArrayNamespaceInfo()


# ----- data type functions -----
def _dtype_of(x, name):
    """The dtype of an array, a tensor, or a dtype given itself (or by name)."""
    if isinstance(x, (Tensor, np.ndarray)) or backend.is_cupy_array(x):
        return x.dtype
    try:
        return dtypes.as_dtype(x)
    except TypeError:
        raise TypeError(f"{name} expects a dtype or an array, got {x!r}") from None


def isdtype(dtype, kind):
    """Whether ``dtype`` is of ``kind``: a kind name ("bool", "signed integer", "unsigned integer", "integral",
    "real floating", "complex floating", "numeric"), a dtype, or a tuple of them."""
    if isinstance(dtype, (Tensor, np.ndarray)):
        raise TypeError(f"isdtype takes a dtype, not an array: pass x.dtype (here {dtype.dtype})")
    d = _dtype_of(dtype, "isdtype")
    if isinstance(kind, tuple):
        return builtins.any(isdtype(d, k) for k in kind)
    if isinstance(kind, str):
        if kind not in KINDS:
            raise ValueError(f"isdtype: unknown kind {kind!r}; kinds are {', '.join(map(repr, KINDS))}, or a dtype")
        return d.kind in KINDS[kind]
    return d == _dtype_of(kind, "isdtype")


def result_type(*arrays_and_dtypes):
    """The dtype of an operation on ``arrays_and_dtypes`` (arrays, dtypes, Python scalars): the standard's
    promotion table where it defines one, NumPy 2's otherwise; Python scalars are weak."""
    found, scalars = [], []
    for x in arrays_and_dtypes:
        if type(x) in (builtins.bool, builtins.int, builtins.float, builtins.complex):
            scalars.append(x)
        else:
            found.append(_dtype_of(x, "result_type"))
    if not found:
        raise ValueError("result_type needs at least one array or dtype; Python scalars alone have no dtype")
    return np.result_type(*found, *scalars)


def can_cast(from_, to, /):
    """Whether ``from_`` (a dtype or an array) casts to ``to`` without losing values: every cast the standard's
    promotion table implies (``int8`` to ``int16``, ``float32`` to ``complex64``), and across kinds NumPy's safe
    casts (``bool`` or ``int16`` to ``float32``), which the standard leaves to the library."""
    return builtins.bool(np.can_cast(_dtype_of(from_, "can_cast"), _dtype_of(to, "can_cast"), "safe"))


@dataclass(frozen=True)
class FloatInfo:
    """Machine limits of a floating-point dtype (``finfo``); for a complex dtype, those of its real parts."""
    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: np.dtype


@dataclass(frozen=True)
class IntInfo:
    """Machine limits of an integer dtype (``iinfo``)."""
    bits: int
    max: int
    min: int
    dtype: np.dtype


def finfo(type, /):
    """Limits of a floating-point or complex dtype (or of an array's dtype) as Python floats."""
    d = _dtype_of(type, "finfo")
    if d.kind not in "fc":
        raise TypeError(f"finfo needs a floating-point or complex dtype, got {d}; use iinfo for integers")
    info = np.finfo(d)
    return FloatInfo(bits=builtins.int(info.bits), eps=builtins.float(info.eps), max=builtins.float(info.max),
                     min=builtins.float(info.min), smallest_normal=builtins.float(info.smallest_normal),
                     dtype=info.dtype)


def iinfo(type, /):
    """Limits of an integer dtype (or of an array's dtype) as Python ints."""
    d = _dtype_of(type, "iinfo")
    if d.kind not in "iu":
        raise TypeError(f"iinfo needs an integer dtype, got {d}; use finfo for floating-point dtypes")
    info = np.iinfo(d)
    return IntInfo(bits=builtins.int(info.bits), max=builtins.int(info.max), min=builtins.int(info.min), dtype=d)


class AsType(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.meta = meta(x)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        # back to the source dtype; a real source takes the real part of a complex gradient (PyTorch's convention)
        return grad_for(gy, ctx.meta), None


def astype(x, dtype, /, *, copy=True, device=None):
    """``x`` as ``dtype`` (on ``device``), differentiable between floating and complex dtypes. ``copy=False``
    gives ``x`` itself where nothing changes. A complex tensor does not cast to a real dtype: say which part is
    meant (``st.real(x)``, ``st.abs(x)``)."""
    if not isinstance(x, Tensor):
        x = creation.as_tensor(x)
    target = dtypes.as_dtype(dtype)
    if target is None:
        raise TypeError("astype needs a dtype, e.g. st.float32")
    if x.dtype.kind == "c" and target.kind != "c":
        raise TypeError(f"astype: casting complex {x.dtype} to real {target} would drop the imaginary part; cast "
                        f"st.real(x) or st.abs(x) instead")
    out = x if device is None else C.to_device(x, backend.parse_device(device))
    if out.dtype != target:
        return AsType.apply(out, target)
    return C.clone(out) if copy and out is x else out


# ----- NumPy's protocol: these functions called on tensors -----
def _numpy_meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    return meshgrid(*xi, indexing=indexing, sparse=sparse, copy=copy)


def _numpy_can_cast(from_, to, casting="safe"):
    return np.can_cast(from_.dtype if isinstance(from_, Tensor) else from_, to, casting)


NUMPY_FUNCTIONS = {np.tril: lambda m, k=0: tril(m, k), np.triu: lambda m, k=0: triu(m, k),
                   np.meshgrid: _numpy_meshgrid, np.can_cast: _numpy_can_cast}

__all__ = ["__array_api_version__", "__array_namespace_info__", "e", "inf", "nan", "newaxis", "pi",
           "astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type",
           "arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace",
           "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like"]
