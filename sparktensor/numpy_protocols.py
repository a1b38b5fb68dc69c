"""NumPy's protocols for tensors: ufuncs (``__array_ufunc__``) and functions (``__array_function__``).

``np.exp(t)``, ``np.sum(t, axis=0)``, ``np.concatenate([t, u])`` give tensors that keep the graph, because
each NumPy ufunc or function is looked up in a table of the differentiable ops of the same meaning. The
table entries take NumPy's own argument names and order (``axis``, ``keepdims``, ``dtype``, ``out``), so a
call spelled for NumPy means the same here. A NumPy function or ufunc that is not in the table runs on the
arrays of tensors that need no gradient (integer tensors always: ``np.bincount(t)``), and gives tensors back;
given a tensor that requires grad, it raises ``TypeError`` naming the function (``numpy.linalg.solve``): a
silent fall back to a plain array would drop the gradient. ``np.asarray(t)`` (``__array__``) stays the way to
get a plain array. Given a NumPy array as ``out=`` (``ndarray += t`` is ``np.add(a, t,
out=(a,))``), NumPy's own call runs on the tensors' values and fills that array, as for any array-like; a
gradient dropped that way warns ``GradientDroppedWarning``.

Dask keeps tensors as the chunks of its arrays through these two protocols (see ``tests/test_dask_arrays.py``).
"""
import sys
import warnings

import numpy as np

from . import backend, creation, dtypes
from .autograd.grad_mode import is_grad_enabled
from .ops import conversion as C, elementwise as E, linalg as L, reduction as R, selection as Sel, shape as S
from .tensor import GradientDroppedWarning, Tensor, _equality

_UNSET = object()  # an argument the caller did not give
_NO_VALUE = getattr(np, "_NoValue", _UNSET)  # NumPy's own marker of the same, which wrappers pass on


# ----- arguments -----
def _refuse(name, **given):
    """TypeError naming the NumPy arguments that were given but have no tensor meaning."""
    bad = sorted(k for k, v in given.items() if v is not _UNSET and v is not _NO_VALUE)
    if bad:
        raise TypeError(f"numpy.{name}: argument(s) {', '.join(bad)} are not supported for tensors")


def _flag(keepdims):
    return False if keepdims is _NO_VALUE else bool(keepdims)


def _tensor(x):
    """A tensor from a tensor, an array or a number (arrays keep their dtype; memory shared where possible)."""
    return x if isinstance(x, Tensor) else creation.as_tensor(np.asarray(x))


def _cast(x, dtype):
    """``x`` as ``dtype`` before an op (NumPy's ``dtype=``: the op computes in that type)."""
    return x if dtype is None else C.astype(_tensor(x), dtype)


def _into(name, result, out):
    """NumPy's ``out=``: the result written into a tensor ``out`` (which is returned), or ``result`` itself."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise TypeError(f"numpy.{name}: out= must hold one tensor, got {len(out)} outputs")
        out = out[0]
    if out is None:
        return result
    if isinstance(out, np.ndarray):  # out given by position (by keyword, NumPy's own call runs: _into_arrays)
        _warn_dropped(name, [result] if isinstance(result, Tensor) else [], stacklevel=6)
        np.copyto(out, result.numpy(), casting="same_kind")
        return out
    if not isinstance(out, Tensor):
        raise TypeError(f"numpy.{name}: out= must be a Tensor or a NumPy array, not {type(out).__name__}")
    if out.shape != result.shape:
        raise ValueError(f"numpy.{name}: out= has shape {out.shape}, the result has shape {result.shape}")
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError(f"numpy.{name}: the result requires grad and out= would keep only its values; drop "
                           f"out= or compute under st.no_grad()")
    return out.copy_(result)


# ----- reductions -----
def _reduction(op, name):
    """``np.sum``-like: ``(a, axis, dtype, out, keepdims)``."""
    def numpy_reduction(a, axis=None, dtype=None, out=None, keepdims=False, initial=_UNSET, where=_UNSET):
        _refuse(name, initial=initial, where=where)
        return _into(name, op(_tensor(a), axis, _flag(keepdims), dtype=dtype), out)
    return numpy_reduction


def _spread(op, name):
    """``np.var`` and ``np.std``: ``(a, axis, dtype, out, ddof, keepdims)``."""
    def numpy_spread(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_UNSET, mean=_UNSET,
                     correction=_UNSET):
        _refuse(name, where=where, mean=mean)
        ddof = ddof if correction is _UNSET or correction is _NO_VALUE else correction
        return _into(name, op(_cast(_tensor(a), dtype), axis=axis, ddof=ddof, keepdims=_flag(keepdims)), out)
    return numpy_spread


def _extremum(op, name, ufunc):
    """``np.max``-like: ``(a, axis, out, keepdims)``, no dtype."""
    def numpy_extremum(a, axis=None, out=None, keepdims=False, initial=_UNSET, where=_UNSET):
        _refuse(name, initial=initial, where=where)
        a = _tensor(a)
        if a.size == 0 and (axis is None or any(a.shape[i] == 0 for i in np.atleast_1d(axis))):
            # NumPy's words: Dask recognises them when it probes an empty chunk for the result's type
            raise ValueError(f"zero-size array to reduction operation {ufunc} which has no identity (numpy.{name} "
                             f"of a tensor of shape {a.shape} over axis {axis})")
        return _into(name, op(a, axis, _flag(keepdims)), out)
    return numpy_extremum


def _truth(op, name):
    """``np.all`` and ``np.any``."""
    def numpy_truth(a, axis=None, out=None, keepdims=False, *, where=_UNSET):
        _refuse(name, where=where)
        return _into(name, op(_tensor(a), axis, _flag(keepdims)), out)
    return numpy_truth


def _index(op, name):
    """``np.argmax`` and ``np.argmin``."""
    def numpy_index(a, axis=None, out=None, *, keepdims=False):
        return _into(name, op(_tensor(a), axis, _flag(keepdims)), out)
    return numpy_index


# ----- shapes -----
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise TypeError(f"numpy.reshape: order={order!r} is not supported for tensors (only 'C')")
    shape = newshape if shape is None else shape
    y = S.reshape(_tensor(a), shape)
    return C.clone(y) if copy else y  # copy=True: never a view, as NumPy's


def _transpose(a, axes=None):
    a = _tensor(a)
    return S.transpose(a) if axes is None else S.permute(a, tuple(axes))


def _ravel(a, order="C"):
    if order != "C":
        raise TypeError(f"numpy.ravel: order={order!r} is not supported for tensors (only 'C')")
    return S.reshape(_tensor(a), -1)


def _join(op, name):
    """``np.concatenate`` and ``np.stack``: ``(arrays, axis, out, dtype)``; ``axis=None`` joins them flattened."""
    def numpy_join(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
        tensors = [_cast(_tensor(a), dtype) for a in arrays]
        if axis is None:
            tensors, axis = [S.reshape(t, -1) for t in tensors], 0
        return _into(name, op(tensors, axis), out)
    return numpy_join


def _split(ary, indices_or_sections, axis=0):
    return S.numpy_split(_tensor(ary), indices_or_sections, axis)


def _pad(array, pad_width, mode="constant", **kwargs):
    constant_values = kwargs.pop("constant_values", 0)
    _refuse("pad", **kwargs)
    return S.pad(_tensor(array), pad_width, mode, constant_values)


def _broadcast_to(array, shape, subok=False):
    return S.broadcast_to(_tensor(array), shape)


# ----- elementwise and products -----
def _where(condition, x=_UNSET, y=_UNSET):
    if x is _UNSET and y is _UNSET:  # the indices where the condition holds, as NumPy's
        from .ops.array_functions import nonzero
        return nonzero(_tensor(condition))
    if x is _UNSET or y is _UNSET:
        raise TypeError("numpy.where takes either a condition alone or a condition, x and y; got only one of x, y")
    return E.where(condition, x, y)


def _ordered(op, name):
    """``np.sort`` and ``np.argsort``: along ``axis`` (the flattened tensor for ``None``), always stable."""
    def numpy_ordered(a, axis=-1, kind=None, order=None, *, stable=None):
        _refuse(name, order=_UNSET if order is None else order)
        a = _tensor(a)
        return op(a.reshape(-1), axis=0) if axis is None else op(a, axis=axis)
    return numpy_ordered


def _diag(v, k=0):
    """``np.diag``: the ``k``-th diagonal of a matrix, or a matrix with ``v`` on its ``k``-th diagonal."""
    from .linalg import diagonal
    v = _tensor(v)
    if v.ndim == 2:
        return diagonal(v, offset=k)
    if v.ndim != 1:
        raise ValueError(f"numpy.diag: the input must be 1-d or 2-d, got shape {v.shape}")
    size = v.shape[0] + abs(k)
    padded = S.pad(v, (0, abs(k)))  # element i lands in row i (k >= 0) or column i (k < 0)
    # chosen, not multiplied: 0 * inf would put NaN (and -x * 0 a -0.0) off the diagonal
    on_diagonal = creation.eye(size, size, dtype=bool, device=v.device, k=k)
    return E.where(on_diagonal, padded[:, None] if k >= 0 else padded, creation.zeros((), dtype=v.dtype,
                                                                                        device=v.device))


def _clip(a, a_min=_UNSET, a_max=_UNSET, out=None, *, min=_UNSET, max=_UNSET, **kwargs):
    _refuse("clip", **kwargs)
    low = a_min if min is _UNSET else min
    high = a_max if max is _UNSET else max
    low, high = (None if v is _UNSET else v for v in (low, high))
    return _into("clip", E.clip(_tensor(a), low, high), out)


def _product(op, name):
    """``np.dot`` and ``np.outer``: ``(a, b, out)``."""
    def numpy_product(a, b, out=None):
        return _into(name, op(_tensor(a), _tensor(b)), out)
    return numpy_product


def _tensordot(a, b, axes=2):
    """Sum over ``axes`` of ``a`` and ``b`` (the last N of ``a`` with the first N of ``b`` when an int), by einsum."""
    a, b = _tensor(a), _tensor(b)
    if isinstance(axes, (int, np.integer)):
        a_axes, b_axes = list(range(a.ndim - int(axes), a.ndim)), list(range(int(axes)))
    else:
        a_axes, b_axes = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"numpy.tensordot: {len(a_axes)} axes of the first operand against {len(b_axes)} of the "
                         f"second")
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    a_sub = [next(letters) for _ in range(a.ndim)]
    b_sub = [None] * b.ndim
    for i, j in zip(a_axes, b_axes):
        b_sub[j % max(b.ndim, 1)] = a_sub[i % max(a.ndim, 1)]
    b_sub = [c or next(letters) for c in b_sub]
    summed = {a_sub[i % max(a.ndim, 1)] for i in a_axes}
    out = "".join(c for c in a_sub if c not in summed) + "".join(c for c in b_sub if c not in summed)
    return L.einsum(f"{''.join(a_sub)},{''.join(b_sub)}->{out}", a, b)


def _einsum(subscripts, *operands, out=None, dtype=None, optimize=False, **kwargs):
    _refuse("einsum", **kwargs)
    if not isinstance(subscripts, str):
        raise TypeError("numpy.einsum: only the subscripts-string form is supported for tensors")
    return _into("einsum", L.einsum(subscripts, *[_cast(_tensor(o), dtype) for o in operands]), out)


# ----- copies, conversions and new tensors -----
def _array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, ndmax=0):
    """``np.array(..., like=t)``: a tensor made the way NumPy would make the array (its dtype rules)."""
    if isinstance(object, Tensor):
        t = object if dtype is None else C.astype(object, dtype)
        t = C.clone(t) if copy and t is object else t
    else:
        t = creation.as_tensor(np.array(object, dtype=dtype, copy=copy))
    return S.reshape(t, (1,) * (ndmin - t.ndim) + t.shape) if t.ndim < ndmin else t


def _asarray(a, dtype=None, order=None, *, device=None, copy=None):
    """``np.asarray(..., like=t)``: a tensor, shared with ``a`` where that needs no conversion."""
    return _array(a, dtype, copy=copy)


def _copy(a, order="K", subok=False):
    return C.clone(_tensor(a))


def _astype(x, dtype, /, *, copy=True, device=None):
    x = _tensor(x)
    converted = C.astype(x, dtype)
    return C.clone(converted) if copy and converted is x else converted


def _new_like(make, a, dtype, shape, *fill):
    a = _tensor(a)
    dtype = a.dtype if dtype is None else dtypes.as_dtype(dtype)
    shape = a.shape if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
    return make(shape, *fill, dtype=dtype, device=a.device)


def _like(make):
    """``np.zeros_like``-like: a new tensor with the shape, dtype and device of ``a`` unless told otherwise."""
    def numpy_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        return _new_like(make, a, dtype, shape)
    return numpy_like


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _new_like(creation.full, a, dtype, shape, fill_value)


def _result_type(*arrays_and_dtypes):
    return np.result_type(*[x.dtype if isinstance(x, Tensor) else x for x in arrays_and_dtypes])


def _queries():
    """Functions whose answer has no gradient (shapes, dtypes, comparisons, integer indices): computed on the data."""
    def on_data(fn):
        return lambda *args, **kwargs: fn(*[a.data if isinstance(a, Tensor) else a for a in args], **kwargs)
    return {np.shape: lambda a: tuple(a.shape), np.ndim: lambda a: a.ndim,
            np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
            np.result_type: _result_type, np.allclose: on_data(np.allclose),
            np.array_equal: on_data(np.array_equal), np.unravel_index: on_data(np.unravel_index),
            np.ravel_multi_index: on_data(np.ravel_multi_index)}


def _functions():
    table = {
        np.sum: _reduction(R.sum, "sum"), np.prod: _reduction(R.prod, "prod"), np.mean: _reduction(R.mean, "mean"),
        np.var: _spread(R.var, "var"), np.std: _spread(R.std, "std"),
        np.max: _extremum(R.amax, "max", "maximum"), np.amax: _extremum(R.amax, "amax", "maximum"),
        np.min: _extremum(R.amin, "min", "minimum"), np.amin: _extremum(R.amin, "amin", "minimum"),
        np.argmax: _index(R.argmax, "argmax"), np.argmin: _index(R.argmin, "argmin"),
        np.all: _truth(R.all, "all"), np.any: _truth(R.any, "any"),
        np.reshape: _reshape, np.transpose: _transpose, np.ravel: _ravel,
        np.swapaxes: lambda a, axis1, axis2: S.swapaxes(_tensor(a), axis1, axis2),
        np.squeeze: lambda a, axis=None: S.squeeze(_tensor(a), axis),
        np.expand_dims: lambda a, axis: S.expand_dims(_tensor(a), axis),
        np.broadcast_to: _broadcast_to,
        np.concatenate: _join(S.concatenate, "concatenate"), np.stack: _join(S.stack, "stack"),
        np.split: _split, np.flip: lambda m, axis=None: S.flip(_tensor(m), axis),
        np.repeat: lambda a, repeats, axis=None: S.repeat(_tensor(a), repeats, axis),
        np.tile: lambda A, reps: S.tile(_tensor(A), reps), np.pad: _pad,
        np.where: _where, np.clip: _clip, np.diag: _diag,
        np.sort: _ordered(lambda a, axis: Sel.sort(a, axis=axis), "sort"),
        np.argsort: _ordered(lambda a, axis: Sel.argsort(a, axis=axis), "argsort"),
        np.round: lambda a, decimals=0, out=None: _into("round", E.round(_tensor(a), decimals), out),
        np.dot: _product(L.dot, "dot"), np.outer: _product(L.outer, "outer"), np.einsum: _einsum,
        np.copy: _copy, np.astype: _astype, np.array: _array, np.asarray: _asarray, np.asanyarray: _asarray,
        np.tensordot: _tensordot,
        np.zeros_like: _like(creation.zeros), np.ones_like: _like(creation.ones),
        np.empty_like: _like(creation.empty), np.full_like: _full_like,
    }
    table.update(_queries())
    return table


def _extension_tables(attribute):
    """The tables the Array API modules (``ops.math_functions``, ``ops.array_functions``, ``array_api``,
    ``linalg``, ``fft``) add, each for the functions it defines."""
    from . import array_api, fft, linalg
    from .ops import array_functions, math_functions
    table = {}
    for module in (math_functions, array_functions, array_api, linalg, fft):
        table.update(getattr(module, attribute, {}))
    return table


FUNCTIONS = {**_functions(), **_extension_tables("NUMPY_FUNCTIONS")}


_known_to_dask = []


def register_with_dask():
    """Tell Dask that tensors are chunks it may wrap (NEP 13's hierarchy: Dask arrays above tensors), so mixed
    Dask-and-tensor calls run in Dask. Done at import, or on the first NumPy call or mixed operator on a tensor
    once ``dask.array`` is loaded (importing Dask here would slow every import); True when it registered now."""
    if _known_to_dask or "dask.array" not in sys.modules:
        return False
    from dask.array.chunk_types import register_chunk_type
    register_chunk_type(Tensor)
    _known_to_dask.append(True)
    return True


def _understood(types):
    """True when every type that took part in the dispatch is one a tensor op can take."""
    return all(issubclass(t, (Tensor, np.ndarray, np.generic)) for t in types)


def array_function(func, types, args, kwargs):
    """Dispatch a NumPy function called on tensors to the table above."""
    registered_now = register_with_dask()
    impl = FUNCTIONS.get(func)
    if not _understood(types):
        if registered_now:
            return func(*args, **kwargs)  # Dask declined the tensor a moment ago; now it takes it
        return NotImplemented  # another array type (a Dask array) may know what to do with the call
    if _writes_into_arrays(kwargs.get("out")):
        return _into_arrays(func.__name__, func, args, kwargs)
    if impl is None:
        return _without_graph(func, (*_qualified(func).split(".")[1:],), _qualified(func), args, kwargs)
    return impl(*args, **kwargs)


# ----- NumPy's own call on the values: out= a NumPy array, functions without a tensor version -----
def _tensors_in(obj):
    """The tensors in ``obj`` and in the lists, tuples and dicts it holds."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for x in obj for t in _tensors_in(x)]
    if isinstance(obj, dict):
        return [t for x in obj.values() for t in _tensors_in(x)]
    return []


def _values(obj, on_host=False):
    """``obj`` with each tensor replaced by its array (copied to a NumPy array when ``on_host``)."""
    if isinstance(obj, Tensor):
        return obj.numpy() if on_host else obj.data
    if type(obj) in (list, tuple):
        return type(obj)(_values(x, on_host) for x in obj)
    if isinstance(obj, dict):
        return {k: _values(v, on_host) for k, v in obj.items()}
    return obj


def _as_tensors(result):
    """``result`` with each array in it (alone, or in a tuple, named tuple or list) made a tensor."""
    if isinstance(result, np.ndarray) or backend.is_cupy_array(result):
        return Tensor(result)
    if isinstance(result, tuple):
        items = [_as_tensors(x) for x in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    if type(result) is list:
        return [_as_tensors(x) for x in result]
    return result


def _needing_grad(obj):
    """The tensors in ``obj`` whose gradient a call outside the graph would drop (none under no_grad)."""
    return [t for t in _tensors_in(obj) if t.requires_grad] if is_grad_enabled() else []


def _qualified(func):
    """``numpy.linalg.solve`` rather than ``numpy.solve``: the name a user would call."""
    module = getattr(func, "__module__", None) or "numpy"
    return f"{module}.{func.__name__}"


def _on_backend(func, path, tensors):
    """``func`` itself for NumPy data; for CuPy data the function at the same ``path`` in CuPy (``cupy.linalg.solve``
    for ``numpy.linalg.solve``), looked up rather than left to CuPy's own dispatch."""
    xp = backend.get_array_module(*[t.data for t in tensors])
    if xp is np:
        return func
    found = xp
    for part in path:
        found = getattr(found, part, None)
        if found is None:
            raise TypeError(f"numpy.{'.'.join(path)} has no CuPy version for tensors on {tensors[0].device}; move "
                            f"them with t.cpu() first")
    return found


def _without_graph(func, path, name, args, kwargs):
    """A NumPy function or ufunc without a differentiable version: on tensors that need no gradient (integer
    ones always: ``np.bincount``), NumPy's own call (CuPy's on the GPU) on their arrays, the arrays it returns made
    tensors; ``path`` names it below the array module."""
    if _tensors_in(kwargs.get("out")):
        raise TypeError(f"{name}: out= a tensor is not supported here, as it would change the tensor outside its "
                        f"version count; drop out= and assign the result")
    dropped = _needing_grad((args, kwargs))
    if dropped:
        raise TypeError(f"{name} has no sparktensor implementation, so it would drop the gradient of a tensor that "
                        f"requires grad (shape {dropped[0].shape}); use a Tensor op, or call it on t.detach() (or "
                        f"np.asarray(t)) to say the gradient should go")
    return _as_tensors(_on_backend(func, path, _tensors_in((args, kwargs)))(*_values(args), **_values(kwargs)))


def _writes_into_arrays(out):
    """Whether ``out=`` names NumPy arrays (and nothing else) to write into."""
    given = [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
    return bool(given) and all(isinstance(o, np.ndarray) for o in given)


def _into_arrays(name, call, args, kwargs):
    """NumPy's own call on the tensors' values when it writes into NumPy arrays (``ndarray += t`` is
    ``np.add(a, t, out=(a,))``), as for any array-like; the gradient cannot go into an array, so dropping it warns."""
    _warn_dropped(name, _tensors_in((args, kwargs)), stacklevel=5)
    return call(*_values(args, on_host=True), **_values(kwargs, on_host=True))


def _warn_dropped(name, tensors, stacklevel):
    dropped = [t for t in tensors if t.requires_grad]
    if dropped and is_grad_enabled():
        warnings.warn(f"numpy.{name} writes into a NumPy array (out=, or an in-place operator on one), which cannot "
                      f"hold the gradient of a tensor that requires grad (shape {dropped[0].shape}); call .detach() "
                      f"first to say so, or keep to tensors (x = x + t)", GradientDroppedWarning,
                      stacklevel=stacklevel)


# ----- ufuncs -----
def _ufuncs():
    table = {
        "add": E.add, "subtract": E.sub, "multiply": E.mul, "true_divide": E.div, "divide": E.div,
        "floor_divide": E.floor_divide, "remainder": E.remainder, "power": E.pow, "negative": E.neg,
        "positive": lambda x: x, "exp": E.exp, "log": E.log, "log1p": E.log1p, "expm1": E.expm1, "sqrt": E.sqrt,
        "sin": E.sin, "cos": E.cos, "tanh": E.tanh, "absolute": E.abs, "sign": E.sign, "maximum": E.maximum,
        "minimum": E.minimum, "matmul": L.matmul, "square": lambda x: E.mul(x, x),
        "divmod": lambda x, y: (E.floor_divide(x, y), E.remainder(x, y)),
    }
    for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_not",
                 "logical_and", "logical_or", "logical_xor", "isnan", "isinf", "isfinite", "bitwise_and",
                 "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"):
        table[name] = getattr(E, name)
    return table


UFUNCS = {**_ufuncs(), **_extension_tables("NUMPY_UFUNCS")}

# ``ufunc.reduce`` of these ufuncs is a reduction the tensor has (its axis defaults to 0, as NumPy's)
UFUNC_REDUCTIONS = {"add": R.sum, "multiply": R.prod, "maximum": R.amax, "minimum": R.amin, "logical_and": R.all,
                    "logical_or": R.any}


def _no_ufunc(ufunc, method, detail=""):
    what = f"ufunc {ufunc.__name__!r}" + (f" method {method!r}" if method != "__call__" else "")
    raise TypeError(f"numpy {what}{detail} has no sparktensor implementation; call the Tensor method or convert "
                    f"with .numpy()")


def _inputs_understood(inputs):
    return all(isinstance(x, (Tensor, np.ndarray, np.generic, int, float, bool)) for x in inputs)


def array_ufunc(ufunc, method, inputs, kwargs):
    """Dispatch a NumPy ufunc call on tensors to the differentiable op of the same meaning."""
    registered_now = register_with_dask()
    name = ufunc.__name__
    if _writes_into_arrays(kwargs.get("out")) and _inputs_understood(inputs):
        return _into_arrays(name, getattr(ufunc, method), inputs, kwargs)
    if name in ("equal", "not_equal") and any(getattr(x, "dtype", np.float64).kind in "SU" for x in inputs):
        # strings == t (the array's == calls this): all False, != all True, as the tensor's own == answers
        tensor, other = inputs if isinstance(inputs[0], Tensor) else inputs[::-1]
        return _equality(UFUNCS[name], tensor, other, name == "not_equal")
    out, dtype = kwargs.pop("out", None), kwargs.pop("dtype", None)
    if not _inputs_understood(inputs):
        if registered_now:
            kwargs.update({k: v for k, v in (("out", out), ("dtype", dtype)) if v is not None})
            return getattr(ufunc, method)(*inputs, **kwargs)  # Dask declined the tensor a moment ago
        return NotImplemented  # a Dask array among the inputs: let it handle the call
    if method == "reduce" and name in UFUNC_REDUCTIONS:
        axis, keepdims = kwargs.pop("axis", 0), kwargs.pop("keepdims", False)
        if kwargs:
            _no_ufunc(ufunc, method, f" with argument(s) {sorted(kwargs)}")
        reduced = UFUNC_REDUCTIONS[name](_cast(_tensor(inputs[0]), dtype), axis, keepdims)
        # the reduction stays in the dtype asked for (sums of small integers would widen to 64 bits)
        return _into(f"{name}.reduce", reduced if dtype is None else _cast(reduced, dtype), out)
    op = UFUNCS.get(name)
    if method != "__call__" or op is None or kwargs:
        if method != "at":  # at() changes its first operand in place
            what = (f"numpy.{name}" + (f".{method}" if method != "__call__" else "")
                    + (f" with argument(s) {sorted(kwargs)}" if kwargs else ""))
            kwargs.update({k: v for k, v in (("out", out), ("dtype", dtype)) if v is not None})
            path = (name,) if method == "__call__" else (name, method)
            return _without_graph(getattr(ufunc, method), path, what, inputs, kwargs)
        _no_ufunc(ufunc, method, f" with argument(s) {sorted(kwargs)}" if kwargs else "")
    if dtype is not None:
        inputs = [_cast(x, dtype) if isinstance(x, (Tensor, np.ndarray, np.generic)) else x for x in inputs]
    return _into(name, op(*inputs), out)


register_with_dask()
