"""Moving values across the stand-in's boundary: unwrap arguments, wrap results."""
import numpy as np

_HOST_HINT = ("the CuPy stand-in refuses a NumPy array where CuPy would (Unsupported type numpy.ndarray); "
              "move it to the device first with cupy.asarray")


def standin_type():
    from .ndarray import ndarray
    return ndarray


def unwrap(value, host_ok=False):
    """The NumPy data inside stand-in arrays, recursively through lists, tuples and dicts."""
    ndarray = standin_type()
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        if host_ok:
            return value
        raise TypeError(f"Unsupported type {type(value)}: {_HOST_HINT}")
    if isinstance(value, (list, tuple)):
        items = [unwrap(v, host_ok) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {k: unwrap(v, host_ok) for k, v in value.items()}
    return value


def wrap(value):
    """Stand-in arrays for NumPy arrays and scalars (CuPy gives 0-d arrays, never host scalars)."""
    ndarray = standin_type()
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))
    if isinstance(value, (list, tuple)):
        items = [wrap(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def call(function, args, kwargs, host_ok=False):
    """``function`` on the unwrapped arguments, its results wrapped; ``out=`` arrays come back as given."""
    out = kwargs.get("out")
    result = function(*unwrap(args, host_ok), **unwrap(kwargs, host_ok))
    if out is not None:
        if isinstance(out, tuple) and isinstance(result, tuple):
            return tuple(o if r is unwrap(o) else wrap(r) for o, r in zip(out, result))
        if result is unwrap(out):
            return out
    return wrap(result)
