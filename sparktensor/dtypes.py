"""Data types: NumPy dtypes under short names, NumPy's promotion rules, float32 by default."""
import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
uint16 = np.dtype("uint16")
uint32 = np.dtype("uint32")
uint64 = np.dtype("uint64")
complex64 = cfloat = np.dtype("complex64")
complex128 = cdouble = np.dtype("complex128")
bool = np.dtype("bool")

SUPPORTED = (float16, float32, float64, complex64, complex128, int8, uint8, int16, uint16, int32, uint32, int64,
             uint64, bool)
default_float = float32


def set_default_dtype(dtype):
    """Set the dtype that Python floats (and ``zeros``, ``rand``, ... without ``dtype=``) become: float32 at start."""
    global default_float
    d = as_dtype(dtype)
    if d is None or d.kind != "f":
        raise TypeError(f"set_default_dtype: the default must be a floating dtype, got {dtype!r}")
    default_float = d


def get_default_dtype():
    """The dtype that Python floats become (float32 unless ``set_default_dtype`` changed it)."""
    return default_float


def as_dtype(dtype):
    """A supported ``numpy.dtype`` from a dtype, a string or a Python type; ``None`` stays ``None``."""
    if dtype is None:
        return None
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}") from e
    if d not in SUPPORTED:
        names = ", ".join(str(s) for s in SUPPORTED)
        raise TypeError(f"dtype {d} is not supported; use one of {names}")
    return d


def is_floating(dtype):
    """True for float16, float32 and float64."""
    return dtype.kind == "f"


def is_differentiable(dtype):
    """True for the dtypes a gradient can flow through: the real floating and the complex ones."""
    return dtype.kind in "fc"


def default_complex():
    """The dtype that Python complex numbers become: complex64 beside a float32 default, else complex128."""
    return complex64 if default_float.itemsize <= 4 else complex128


def result_type(*xs):
    """The dtype NumPy gives an operation on ``xs`` (arrays, dtypes or Python scalars)."""
    return np.result_type(*xs)


def is_device_string(value):
    """True for strings that name a device rather than a dtype (``to("cuda")`` against ``to("float64")``)."""
    if not isinstance(value, str):
        return False
    try:
        np.dtype(value)
    except TypeError:
        return True
    return False


def parse_to_args(args, dtype=None, device=None):
    """``(dtype, device)`` from the positional arguments of ``.to(...)``: device strings and dtypes in any order."""
    for a in args:
        if is_device_string(a):
            device = a
        else:
            dtype = a
    return dtype, device
