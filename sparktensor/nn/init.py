"""Weight initialization, in place, with PyTorch's formulas and gain conventions; and deferred initialization.

How values are drawn. Each random initialization takes one 64-bit key from the generator's CPU stream
(``random.draw_key``) and generates the tensor from it in chunks of ``random.CHUNK`` entries, each chunk from
its own seeded stream (``random.chunked``), on the CPU whatever the tensor's device. Two consequences:

* ``st.manual_seed(s)`` then the same model gives the same weights, on every device, as before; but the
  values differ from those of sparktensor before chunked generation (which drew each tensor straight from the
  stream). Tests against PyTorch load PyTorch's weights, so they never depended on either.
* Any slice of a tensor can be generated alone, with the same bits as the whole tensor's.

Deferred initialization builds on that. Under ``with deferred_init(): model = Net()`` every parameter that an
initializer here fills holds no values: its data is a ``DeferredArray``, its shape and dtype with one
broadcast zero behind it, and the recipe of its values (the initializer, its arguments, its key, and
assignments made after it, such as ``Embedding``'s zero padding row). The module pickles in a few hundred
bytes. ``materialize(array, axis, ranges)`` then makes a slice of it (``dist.shard`` on each rank makes only
that rank's slices, chunk by chunk), ``materialize_(module)`` the whole module in place; both give exactly the
values an ordinary ``Net()`` would have had after the same ``manual_seed``. A deferred array refuses to be
computed with (it would silently be zeros). ``orthogonal_`` is the one initializer that needs the whole matrix
(a QR decomposition): its slices are made from the whole matrix.
"""
import contextlib
import math
import threading
from collections import namedtuple

import numpy as np

from .. import backend
from .. import random as st_random
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor

_deferring = threading.local()

#: what a deferred tensor's values are: ``kind`` of ``_DRAWS`` (or "constant", "orthogonal"), its ``args``, the
#: ``key`` it draws from, its ``device``, and ``edits``: ``(index, value)`` assignments made after it, in order
Recipe = namedtuple("Recipe", "kind args key device edits")


class DeferredArray(np.ndarray):
    """A tensor's stand-in under ``deferred_init``: shape and dtype, no memory, and the ``recipe`` of its values."""

    def __new__(cls, shape, dtype, recipe):
        array = np.broadcast_to(np.zeros((), dtype), tuple(shape)).view(cls)
        array.recipe = recipe
        return array

    def __array_finalize__(self, obj):
        self.recipe = None  # a view or copy of a stand-in is not the tensor the recipe describes

    def __reduce__(self):
        return DeferredArray, (self.shape, self.dtype.str, self.recipe)

    def __copy__(self):
        return DeferredArray(self.shape, self.dtype, self.recipe)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __setitem__(self, index, value):
        """Recorded in the recipe, to be applied to the values when they are made (``x[0] = 0`` and the like)."""
        if self.recipe is None:
            raise _refuse(self)
        value = np.asarray(value)
        if value.ndim:
            raise TypeError(f"a deferred tensor of shape {self.shape} takes only a single value in an assignment, "
                            f"got an array of shape {value.shape}; materialize it first (nn.init.materialize_)")
        index = index if isinstance(index, tuple) else (index,)
        for i in index:
            if not isinstance(i, (int, np.integer, slice)):
                raise TypeError(f"a deferred tensor takes assignments at ints and slices, got {i!r}; materialize it "
                                f"first (nn.init.materialize_)")
        self.recipe = self.recipe._replace(edits=self.recipe.edits + ((index, value.item()),))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise _refuse(self)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.array2string:  # printing a deferred parameter shows its recipe
            return repr(self)
        raise _refuse(self)

    def __repr__(self):
        kind = "a view" if self.recipe is None else f"{self.recipe.kind}{tuple(self.recipe.args)}"
        return f"DeferredArray(shape={self.shape}, dtype={self.dtype}, {kind})"

    __str__ = __repr__


def _refuse(array):
    return RuntimeError(f"a tensor made under deferred_init() holds no values yet (here one of shape {array.shape}); "
                        f"shard the model (dist.shard makes each rank's slice) or call nn.init.materialize_(module)")


@contextlib.contextmanager
def deferred_init():
    """Within the block, initializers record recipes instead of values: the modules built hold no weights.

    ``with nn.init.deferred_init(): model = Net()`` takes no memory for the weights; ``dist.shard`` (or
    ``HybridTrainer``) then makes each rank's slices only, and ``materialize_`` the whole model.
    """
    previous = getattr(_deferring, "on", False)
    _deferring.on = True
    try:
        yield
    finally:
        _deferring.on = previous


def is_deferred(x):
    """Whether ``x`` (a tensor or an array) is a deferred stand-in with a recipe."""
    data = x.data if isinstance(x, Tensor) else x
    return isinstance(data, DeferredArray) and data.recipe is not None


def materialize(x, axis=0, ranges=None):
    """The values of a deferred tensor or array ``x`` (a new array on its device); with ``ranges``, only the
    entries ``[(start, stop), ...]`` along ``axis`` (see ``random.chunked``). Anything else: a copy."""
    data = x.data if isinstance(x, Tensor) else x
    if not is_deferred(data):
        if ranges is None:
            return data.copy()
        index = np.concatenate([np.arange(a, b) for a, b in ranges] or [np.zeros(0, np.int64)])
        return backend.get_array_module(data).take(data, index, axis=axis)
    recipe, shape, dtype = data.recipe, data.shape, data.dtype
    if not shape:
        axis, ranges = 0, None
    axis = axis % len(shape) if shape else 0
    if recipe.kind in _DRAWS:
        values = st_random.chunked(_DRAWS[recipe.kind](*recipe.args), shape, recipe.key, dtype, axis, ranges)
    elif recipe.kind == "constant":
        kept = shape[axis] if ranges is None or not shape else sum(max(0, b - a) for a, b in ranges)
        values = np.full(shape[:axis] + (kept,) + shape[axis + 1:] if shape else (), recipe.args[0], dtype)
    elif recipe.kind == "orthogonal":
        whole = _orthogonal(shape, recipe.args[0], recipe.key).astype(dtype, copy=False)
        values = materialize(whole, axis, ranges)
    else:
        raise ValueError(f"unknown initializer {recipe.kind!r} in a deferred tensor's recipe")
    for index, value in recipe.edits:
        _edit(values, shape, axis, ranges, index, value)
    return backend.to_device(values, recipe.device)


def materialize_(module):
    """Give every deferred parameter and buffer of ``module`` its values, in place; returns ``module``."""
    for m in module.modules():
        for table in (m._parameters, m._buffers):
            for t in table.values():
                if t is not None and is_deferred(t):
                    t.data = materialize(t)
    return module


def _edit(values, shape, axis, ranges, index, value):
    """Apply ``whole[index] = value`` to ``values``, the entries ``ranges`` along ``axis`` of ``whole``."""
    picks = []
    for dim, i in enumerate(index):
        chosen = np.arange(shape[dim])[i]
        if dim == axis and ranges is not None:
            starts = np.array([a for a, _ in ranges], np.int64)
            places = np.concatenate([[0], np.cumsum([b - a for a, b in ranges])[:-1]]).astype(np.int64)
            k = np.searchsorted(starts, chosen, "right") - 1
            ok = (k >= 0) & (chosen < np.array([b for _, b in ranges], np.int64)[np.maximum(k, 0)])
            chosen = (chosen - starts[np.maximum(k, 0)] + places[np.maximum(k, 0)])[ok]
        picks.append(np.atleast_1d(chosen))
    if all(p.size for p in picks):
        values[np.ix_(*picks)] = value


# ----- drawing -----
_DRAWS = {
    "uniform": lambda a, b: lambda rng, n: rng.uniform(a, b, n),
    "normal": lambda mean, std: lambda rng, n: mean + std * rng.standard_normal(n),
}


def _init(tensor, kind, args, generator=None):
    """Fill ``tensor`` by ``kind``, or record the recipe under ``deferred_init`` (or when it is deferred already)."""
    key = st_random.draw_key(generator) if kind in _DRAWS or kind == "orthogonal" else None
    recipe = Recipe(kind, tuple(float(a) for a in args), key, tensor.device, ())
    if getattr(_deferring, "on", False) or is_deferred(tensor):
        tensor.data = DeferredArray(tensor.shape, tensor.dtype, recipe)
        return tensor
    values = materialize(DeferredArray(tensor.shape, tensor.dtype, recipe))
    with no_grad():
        tensor.copy_(values)
    return tensor


def _orthogonal(shape, gain, key):
    rows = shape[0]
    cols = int(np.prod(shape)) // rows
    flat = st_random.chunked(_DRAWS["normal"](0.0, 1.0), (rows, cols), key, np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


# ----- the initializers -----
def calculate_gain(nonlinearity, param=None):
    """The recommended scale for an activation, as PyTorch's ``calculate_gain``."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _fans(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples of U(a, b)."""
    return _init(tensor, "uniform", (a, b), generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples of N(mean, std**2)."""
    return _init(tensor, "normal", (mean, std), generator)


def constant_(tensor, value):
    """Fill with ``value``."""
    if getattr(_deferring, "on", False) or is_deferred(tensor):
        return _init(tensor, "constant", (value,))
    with no_grad():
        return tensor.fill_(value)


def zeros_(tensor):
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with ones."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal sample, scaled by ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {tensor.shape}")
    return _init(tensor, "orthogonal", (gain,), generator)


def layer_default_(weight, bias=None):
    """PyTorch's default for Linear and Conv: kaiming-uniform weight (a = sqrt(5)), bias U(-1/sqrt(fan_in), ...)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _fans(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
