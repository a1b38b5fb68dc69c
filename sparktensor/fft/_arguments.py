"""What the transforms share: checking their arguments, the result dtypes, and the pieces of their adjoints."""
import numpy as np

from .. import creation, dtypes
from ..backend import get_array_module
from ..ops._grad_utils import namespace_of, normalize_axis
from ..tensor import Tensor

NORMS = ("backward", "ortho", "forward")
# the adjoint of a transform scaled one way is the opposite transform scaled the same way
_ADJOINT_NORM = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def as_tensor(x):
    """A tensor from a tensor, an array or a number."""
    return x if isinstance(x, Tensor) else creation.as_tensor(x)


def check_norm(name, norm):
    """``norm`` as one of the standard's three names (``None`` is NumPy's spelling of ``"backward"``)."""
    if norm is None:
        return "backward"
    if norm not in NORMS:
        raise ValueError(f"{name}: norm={norm!r} is not one of {', '.join(map(repr, NORMS))}")
    return norm


def adjoint_norm(norm):
    """The norm of the opposite transform that is the adjoint of a transform with ``norm``."""
    return _ADJOINT_NORM[norm]


def _result_dtypes(name, dtype):
    """``(real, complex)`` dtypes of a transform of ``dtype``: single precision for float16/float32/complex64,
    double for float64/complex128, the defaults for integers and booleans."""
    if dtype.kind in "iub":
        return dtypes.get_default_dtype(), dtypes.default_complex()
    if dtype.kind not in "fc":
        raise TypeError(f"{name}: a tensor of dtype {dtype} cannot be transformed; use a floating or complex tensor")
    if dtype.itemsize >= (16 if dtype.kind == "c" else 8):
        return dtypes.float64, dtypes.complex128
    return dtypes.float32, dtypes.complex64


def complex_dtype(name, dtype):
    """The complex dtype a transform of ``dtype`` gives (a complex ``dtype`` itself)."""
    return dtype if dtype.kind == "c" else _result_dtypes(name, dtype)[1]


def real_dtype(name, dtype):
    """The real dtype of the same precision as ``dtype`` (the input of rfft, the output of irfft)."""
    return _result_dtypes(name, dtype)[0]


def check_real(name, x):
    """Refuse a complex input to a transform that takes real input (``rfft``, ``ihfft``)."""
    if x.dtype.kind == "c":
        raise TypeError(f"{name}: takes a real tensor, got {x.dtype}; use the complex transform (fft, fftn) for "
                        f"complex input")


def _length(name, what, value):
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name}: {what} must be an int, got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name}: {what} must be at least 1, got {value}")
    return value


def axes_or_dim(name, axes, default, dim):
    """The standard's ``axis``/``axes`` or PyTorch's ``dim`` (the same thing), refusing both at once."""
    if dim is None:
        return axes
    if axes != default:
        raise TypeError(f"{name}: give the axes once, as axis=/axes= (the standard's name) or dim= (PyTorch's)")
    return dim


def one_axis(name, x, n, axis, default_n=None):
    """``(sizes, axes)`` of a 1-d transform: its length (``n``, else ``default_n(m)``, else the input's ``m``)."""
    if x.ndim == 0:
        raise ValueError(f"{name}: needs a tensor of at least 1 dimension, got a 0-d tensor")
    axis = normalize_axis(axis, x.ndim)[0]
    m = x.shape[axis]
    if n is None:
        n = default_n(m) if default_n is not None else m
        if n < 1:
            raise ValueError(f"{name}: the input has {m} element(s) along axis {axis}, which gives a transform of "
                             f"length {n}; pass n >= 1")
    return (_length(name, "n", n),), (axis,)


def many_axes(name, x, s, axes, default_last=None):
    """``(sizes, axes)`` of an n-d transform; ``-1`` in ``s`` (or ``s=None``) keeps an axis's length, except that
    the last axis's default length is ``default_last(m)`` when given (irfftn)."""
    if x.ndim == 0:
        raise ValueError(f"{name}: needs a tensor of at least 1 dimension, got a 0-d tensor")
    if s is not None:
        s = (s,) if hasattr(s, "__index__") else tuple(s)
    if axes is None:
        if s is not None and len(s) > x.ndim:
            raise ValueError(f"{name}: s has {len(s)} entries, more than the {x.ndim} axes of a tensor of shape "
                             f"{x.shape}")
        axes = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
    axes = normalize_axis(axes, x.ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: axes {axes} name an axis more than once")
    if not axes:
        raise ValueError(f"{name}: needs at least one axis to transform")
    if s is None:
        s = (-1,) * len(axes)
    if len(s) != len(axes):
        raise ValueError(f"{name}: s has {len(s)} entries but axes has {len(axes)} ({axes}); give one size per axis")
    sizes = []
    for i, (size, axis) in enumerate(zip(s, axes)):
        if not isinstance(size, bool) and hasattr(size, "__index__") and int(size) == -1:
            m = x.shape[axis]
            size = default_last(m) if default_last is not None and i == len(axes) - 1 else m
            if size < 1:
                raise ValueError(f"{name}: the input has {m} element(s) along axis {axis}, which gives a transform "
                                 f"of length {size}; pass s with sizes >= 1")
        sizes.append(_length(name, f"s[{i}]", size))
    return tuple(sizes), axes


def half_length(n):
    """The length of the one-sided (Hermitian) spectrum of ``n`` real values."""
    return n // 2 + 1


def resize(g, shape, axes):
    """``g`` cropped or zero-padded along ``axes`` to ``shape`` there: the adjoint of resizing the other way."""
    crop = tuple(slice(0, n) if g.shape[a] > n else slice(None) for a, n in enumerate(shape))
    if any(g.shape[a] > shape[a] for a in axes):
        g = g[crop]
    widths = [(0, max(shape[a] - g.shape[a], 0)) if a in axes else (0, 0) for a in range(g.ndim)]
    if any(after for _, after in widths):
        g = namespace_of(g).pad(g, widths)
    return g


def hermitian_weights(g, n, axis, factor):
    """Weights along ``axis`` of a one-sided spectrum of ``n`` values: ``factor`` on the entries whose mirror
    image the spectrum leaves out (1 .. n - n//2 - 1), 1 elsewhere; real, of ``g``'s precision and device."""
    k = half_length(n)
    weights = np.ones(k, dtype=np.float64 if g.dtype in (np.float64, np.complex128) else np.float32)
    weights[1:n - k + 1] = factor
    weights = weights.reshape((k,) + (1,) * (g.ndim - 1 - axis))
    xp = get_array_module(g)
    return weights if xp is np else xp.asarray(weights)
