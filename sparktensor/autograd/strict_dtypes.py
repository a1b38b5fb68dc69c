"""``strict_dtypes``: a mode in which an op on floating arrays of different dtypes raises instead of promoting.

By default a mixed-dtype op follows NumPy's promotion (float32 with float64 gives float64; docs/semantics.md).
Under ``st.strict_dtypes()`` (or after ``st.set_strict_dtypes(True)``) it raises a ``TypeError`` naming the op and
the dtypes, which finds the one float64 constant that turns a float32 model into a float64 one. Python numbers
never count: ``x * 0.5`` keeps ``x``'s dtype either way. The mode is per thread, as ``no_grad``.
"""
import functools
import threading


class _State(threading.local):
    strict = False


_state = _State()


def is_strict_dtypes():
    """True when mixed floating dtypes raise."""
    return _state.strict


def set_strict_dtypes(mode):
    """Turn the strict mode on or off for this thread."""
    _state.strict = bool(mode)


class strict_dtypes:
    """Context manager and decorator: inside it, an op on floating arrays of different dtypes raises."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.saved = _state.strict
        _state.strict = self.mode
        return self

    def __exit__(self, *exc):
        _state.strict = self.saved
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with strict_dtypes(self.mode):
                return fn(*args, **kwargs)
        return wrapper


def check_same_float_dtype(op, arrays):
    """Raise a ``TypeError`` when the floating arrays among ``arrays`` have more than one dtype."""
    dtypes = []
    for a in arrays:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and getattr(a, "ndim", None) is not None and dtype.kind == "f" and dtype not in dtypes:
            dtypes.append(dtype)
    if len(dtypes) > 1:
        listed = " and ".join(str(d) for d in dtypes)
        raise TypeError(f"{op}: mixes {listed} under strict_dtypes(); convert one side (t.to({dtypes[0]}) or "
                        f"t.to({dtypes[1]})), or leave strict mode to promote as NumPy does")
