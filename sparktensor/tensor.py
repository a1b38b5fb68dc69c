"""``Tensor``: an array (NumPy or CuPy) with a gradient and the graph node that made it."""
import operator as _op
import sys
import warnings

import numpy as np

from . import backend, dtypes


class GradientDroppedWarning(UserWarning):
    """A tensor that requires grad was turned into an array or copied into a new tensor, leaving the graph."""


class Tensor:
    """A multidimensional array with reverse-mode autodiff.

    ``data`` is the underlying NumPy or CuPy array. Operators and methods follow
    NumPy (broadcasting, dtype promotion, ``axis``/``keepdims``); gradients follow
    PyTorch (``requires_grad``, ``backward()``, ``.grad``).
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_index", "_version", "_accumulator", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False):
        if type(data) is not np.ndarray:
            if isinstance(data, np.generic):
                data = np.asarray(data)
            elif not backend.is_cupy_array(data):
                from .creation import as_array
                data = as_array(data)
        self.data = data
        self.grad = None
        self._requires_grad = False
        self._node = None
        self._index = 0
        self._version = [0]
        self._accumulator = None
        if requires_grad:
            self.requires_grad = True

    def __setattr__(self, name, value):
        # t.data = other_tensor takes the other tensor's array, as PyTorch's does, rather than nesting it
        object.__setattr__(self, name, value.data if name == "data" and isinstance(value, Tensor) else value)

    @classmethod
    def _from_op(cls, data, node, index, version):
        """Wrap the output of an op without checks (the hot path)."""
        if type(data) is not np.ndarray and isinstance(data, np.generic):
            data = np.asarray(data)
        t = object.__new__(cls)
        requires = node is not None and data.dtype.kind in "fc"
        _set = object.__setattr__  # past __setattr__: this is the hot path and data is an array
        _set(t, "data", data)
        _set(t, "grad", None)
        _set(t, "_requires_grad", requires)
        _set(t, "_node", node if requires else None)
        _set(t, "_index", index)
        _set(t, "_version", version)
        _set(t, "_accumulator", None)
        return t

    # ----- autograd -----
    @property
    def requires_grad(self):
        """Whether gradients flow to (or through) this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point and complex tensors can require gradients, this one is "
                               f"{self.data.dtype}; convert it first, e.g. x.float()")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach() instead")
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place; returns the tensor."""
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node that made this tensor, or ``None`` for a leaf."""
        return self._node

    def _edge(self):
        """Where this tensor's gradient goes: its node and output index, or its leaf accumulator."""
        if self._node is not None:
            return (self._node, self._index)
        if self._accumulator is None:
            from .autograd.function import AccumulateGrad
            self._accumulator = AccumulateGrad(self)
        return (self._accumulator, 0)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into ``.grad`` of the leaves it depends on (``inputs`` only, when
        given); with ``create_graph`` the gradient is recorded, so it can be differentiated again."""
        _autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` whenever the gradient of this tensor is computed; a tensor it returns replaces the
        gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self._requires_grad:
            raise RuntimeError(f"cannot register a hook on a tensor that does not require grad (shape {self.shape}); "
                               f"call requires_grad_() on a leaf first")
        from .autograd.hooks import add_grad_hook
        return add_grad_hook(*self._edge(), hook)

    def detach(self):
        """The same data (shared, same version counter) cut from the graph."""
        return Tensor._from_op(self.data, None, 0, self._version)

    def zero_grad_(self):
        """Forget the accumulated gradient."""
        self.grad = None

    def _bump_version(self):
        self._version[0] += 1

    def __reduce_ex__(self, protocol):
        # the graph never travels, as in PyTorch: a copy is a leaf of its own (keeping requires_grad, and .grad
        # where the original is a leaf), never a path back to leaves it would silently fail to reach
        return _rebuild, (type(self), self.data, self._requires_grad, self.grad if self._node is None else None)

    # ----- properties -----
    @property
    def shape(self):
        """The dimensions, a tuple of ints."""
        return self.data.shape

    @property
    def ndim(self):
        """The number of dimensions."""
        return self.data.ndim

    @property
    def dtype(self):
        """The ``numpy.dtype`` of the elements."""
        return self.data.dtype

    @property
    def size(self):
        """The number of elements, an int (NumPy's ``size``) that PyTorch code may call: ``x.size()`` is the
        shape and ``x.size(0)`` the length of axis 0."""
        return Size(self.data.shape, self.data.size)

    @property
    def device(self):
        """``"cpu"`` or ``"cuda:N"``."""
        return backend.device_of(self.data)

    @property
    def T(self):
        """The tensor with its axes reversed."""
        return S.transpose(self)

    @property
    def mT(self):
        """The tensor with its last two axes swapped (the transpose of each matrix in a stack)."""
        if self.data.ndim < 2:
            raise ValueError(f"mT needs a tensor with at least 2 dimensions, this one has shape {self.shape}")
        return S.swapaxes(self, -1, -2)

    def to_device(self, device, /, *, stream=None):
        """This tensor on ``device`` (the Array API's name for ``.to(device)``); no stream but the default one."""
        if stream is not None:
            raise ValueError(f"to_device: streams are not supported (got stream={stream!r}); leave it None")
        return C.to_device(self, backend.parse_device(device))

    def dim(self):
        """The number of dimensions (PyTorch's name)."""
        return self.data.ndim

    def numel(self):
        """The number of elements (PyTorch's name)."""
        return self.data.size

    # ----- conversion -----
    def numpy(self):
        """The data as a NumPy array (copied from the GPU when needed)."""
        return backend.to_device(self.data, "cpu")

    def __array__(self, dtype=None, copy=None):
        """The data as a NumPy array (``np.asarray(t)``): the way out of the graph, never a silent one."""
        if self._requires_grad and _grad_mode.is_grad_enabled():
            warnings.warn(f"converting a tensor that requires grad (shape {self.shape}) to a NumPy array drops its "
                          f"gradient; call .detach() first to say so, or keep to tensor ops", GradientDroppedWarning,
                          stacklevel=2)
        array = self.numpy()
        converts = array is not self.data or (dtype is not None and np.dtype(dtype) != array.dtype)
        if copy is False and converts:
            raise ValueError(f"np.asarray(tensor, copy=False): a tensor of dtype {self.dtype} on {self.device} "
                             f"cannot become a NumPy array{'' if dtype is None else f' of dtype {np.dtype(dtype)}'} "
                             f"without a copy")
        if dtype is not None:
            return array.astype(dtype, copy=bool(copy))
        return array.copy() if copy and not converts else array

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Share the data through DLPack (``torch.from_dlpack(t)``, ``np.from_dlpack(t)``), 0-d tensors included;
        the arguments are the Array API's (2024.12), passed on to the array."""
        if self._requires_grad and _grad_mode.is_grad_enabled():
            warnings.warn(f"exporting a tensor that requires grad (shape {self.shape}) through DLPack drops its "
                          f"gradient; call .detach() first to say so", GradientDroppedWarning, stacklevel=2)
        data = self.data
        if not data.flags.writeable and copy is not False:  # a broadcast view: DLPack wants memory of its own
            data = data.copy()
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return data.__dlpack__(**{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        """``(device type, device index)`` in DLPack's terms: ``(1, 0)`` for the CPU, ``(2, N)`` for CUDA."""
        return self.data.__dlpack_device__()

    def item(self):
        """The single value as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        """The data as (nested) Python lists."""
        return self.numpy().tolist()

    def __float__(self):
        return float(self._real_scalar("float"))

    def __int__(self):
        return int(self._real_scalar("int"))

    def __complex__(self):
        return complex(self._scalar("complex"))

    def _real_scalar(self, name):
        if self.data.dtype.kind == "c":
            raise TypeError(f"{name}() of a complex tensor would drop the imaginary part; use complex(t), or "
                            f"{name}() of st.real(t) or st.abs(t)")
        return self._scalar(name)

    def _scalar(self, name):
        """The value for ``float(t)``/``int(t)``: NumPy 2 converts only 0-d arrays (earlier 2.x releases warn for
        one element with dimensions, later ones raise), and this follows the NumPy installed."""
        if self.data.ndim:
            problem = (f"{name}() of a tensor of shape {self.shape}: only 0-d tensors convert to a Python scalar, "
                       f"as NumPy's arrays; use t.item() for its one element")
            if self.data.size != 1 or _NUMPY_CONVERTS_ONLY_0D:
                raise TypeError(problem)
            warnings.warn(problem, DeprecationWarning, stacklevel=3)
        return self.item()

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.ndim:
            raise TypeError(f"only 0-d integer tensors can be used as an index (as NumPy's arrays), not {self.dtype} "
                            f"of shape {self.shape}")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def to(self, *args, dtype=None, device=None):
        """Move to a device and/or convert to a dtype: ``to("cuda")``, ``to(st.float64)``, ``to("cpu", st.float16)``."""
        dtype, device = dtypes.parse_to_args(args, dtype, device)
        out = self
        if device is not None:
            out = C.to_device(out, backend.parse_device(device))
        if dtype is not None:
            out = C.astype(out, dtype)
        return out

    def cpu(self):
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self, index=None):
        """This tensor on a CUDA device (the current one when ``index`` is ``None``)."""
        return self.to("cuda" if index is None else f"cuda:{index}")

    def astype(self, dtype, copy=True):
        """This tensor converted to ``dtype`` (differentiable between float types), a new tensor as NumPy's
        ``astype`` gives; ``copy=False`` gives this tensor itself when it already has that dtype."""
        out = C.astype(self, dtype)
        return C.clone(out) if copy and out is self else out

    def _as(self, dtype):
        return self if dtype is None else C.astype(self, dtype)

    def float(self):
        return C.astype(self, dtypes.float32)

    def double(self):
        return C.astype(self, dtypes.float64)

    def half(self):
        return C.astype(self, dtypes.float16)

    def int(self):
        return C.astype(self, dtypes.int32)

    def long(self):
        return C.astype(self, dtypes.int64)

    def bool(self):
        return C.astype(self, dtypes.bool)

    def clone(self):
        """A copy that stays in the graph."""
        return C.clone(self)

    # ----- in place, as PyTorch: recorded in the graph, guarded by the version counter -----
    def _records(self, *others):
        """Whether an in-place change of this tensor (with ``others`` as operands) must be recorded in the graph."""
        return _grad_mode.is_grad_enabled() and (
            self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others))

    def _check_inplace(self, op):
        if self._requires_grad and self._node is None:
            raise RuntimeError(f"{op}: in-place change of a leaf tensor that requires grad would corrupt its "
                               f"gradient; use the out-of-place op (x = x + y), or st.no_grad() to change the "
                               f"values outside the graph (initialization, an optimizer step)")
        if getattr(self._node, "is_view", False) or (not self._requires_grad and self.data.base is not None):
            raise RuntimeError(f"{op}: in-place change of a view (shape {self.shape}) by a value that requires grad: "
                               f"the tensor it views would change without recording it; change that tensor itself, "
                               f"or a .clone() of the view")

    def _update(self, op, fn, *others):
        """Write ``fn(self)`` into this tensor's memory and bump its version.

        Under grad mode, with this tensor or an operand requiring grad, the change is recorded: ``fn`` runs on a
        copy of the old values (so what it saves for backward survives), and this tensor becomes its output, as
        PyTorch's in-place ops do; ops that saved the old values before then refuse to backward."""
        if self._records(*others):
            self._check_inplace(op)
            out = fn(Tensor._from_op(self.data.copy(), self._node, self._index, [0]))
        else:
            with _grad_mode.no_grad():
                out = fn(self)
        if out.shape != self.shape:
            raise RuntimeError(f"{op}: the result has shape {out.shape}, which cannot be written into a tensor of "
                               f"shape {self.shape}")
        try:
            backend.get_array_module(self.data).copyto(self.data, out.data, casting="same_kind")
        except TypeError:
            raise TypeError(f"{op}: the result is {out.dtype}, which cannot be written into a {self.dtype} tensor; "
                            f"convert first (x = x.to({out.dtype}))") from None
        if out._node is not None:
            self._node, self._index, self._requires_grad = out._node, out._index, True
        self._bump_version()
        return self

    def add_(self, other, *, alpha=1):
        """``self += alpha * other`` in place."""
        return self._update("add_", lambda x: E.add(x, other if alpha == 1 else E.mul(other, alpha)), other)

    def sub_(self, other, *, alpha=1):
        """``self -= alpha * other`` in place."""
        return self._update("sub_", lambda x: E.sub(x, other if alpha == 1 else E.mul(other, alpha)), other)

    def mul_(self, other):
        """``self *= other`` in place."""
        return self._update("mul_", lambda x: E.mul(x, other), other)

    def div_(self, other):
        """``self /= other`` in place."""
        return self._update("div_", lambda x: E.div(x, other), other)

    def clamp_(self, min=None, max=None):
        """Limit to ``[min, max]`` in place."""
        return self._update("clamp_", lambda x: E.clip(x, min, max), min, max)

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        """Write ``value`` where ``mask`` is true, in place."""
        return self._update("masked_fill_", lambda x: P.masked_fill(x, mask, value), value)

    def copy_(self, src):
        """Copy ``src`` into this tensor's memory (broadcasting, converting dtype and device), in place."""
        if not self._records(src):  # the common case (loading weights), without building a graph
            src = _raw(src)
            self.data[...] = backend.to_device(src, self.device) if hasattr(src, "__array__") else src
            self._bump_version()
            return self
        src = src.to(self.device, self.dtype) if isinstance(src, Tensor) else src
        everywhere = backend.get_array_module(self.data).ones(self.shape, bool)
        return self._update("copy_", lambda x: E.where(everywhere, src, x), src)

    def fill_(self, value):
        """Fill with ``value`` (a number or 0-d tensor) in place."""
        if not self._records(value):
            self.data.fill(_raw(value))
            self._bump_version()
            return self
        return self.masked_fill_(backend.get_array_module(self.data).ones(self.shape, bool), value)

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def __format__(self, spec):
        """``f"{loss:.3f}"``: a 0-d tensor formats as NumPy's 0-d arrays and scalars do; an empty spec is ``str``."""
        if not spec:
            return str(self)
        if self.data.ndim:
            raise TypeError(f"format spec {spec!r} needs a 0-d tensor, as NumPy's arrays do; this one has shape "
                            f"{self.shape}: format t.item() for its one element, or each of t.tolist()")
        return format(self.numpy(), spec)

    # ----- repr -----
    def __repr__(self):
        array = self.numpy()
        body = np.array2string(array, separator=", ", prefix="tensor(", precision=4,
                               threshold=200, edgeitems=3)
        extras = []
        if self.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool):
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ----- operators -----
    def __add__(self, other): return _defer(_op.add, self, other) if _foreign(other) else E.add(self, other)
    def __radd__(self, other): return _defer(_op.add, other, self) if _foreign(other) else E.add(other, self)
    def __sub__(self, other): return _defer(_op.sub, self, other) if _foreign(other) else E.sub(self, other)
    def __rsub__(self, other): return _defer(_op.sub, other, self) if _foreign(other) else E.sub(other, self)
    def __mul__(self, other): return _defer(_op.mul, self, other) if _foreign(other) else E.mul(self, other)
    def __rmul__(self, other): return _defer(_op.mul, other, self) if _foreign(other) else E.mul(other, self)
    def __truediv__(self, other): return _defer(_op.truediv, self, other) if _foreign(other) else E.div(self, other)
    def __rtruediv__(self, other): return _defer(_op.truediv, other, self) if _foreign(other) else E.div(other, self)
    def __floordiv__(self, other): return _defer(_op.floordiv, self, other) if _foreign(other) else E.floor_divide(self, other)
    def __rfloordiv__(self, other): return _defer(_op.floordiv, other, self) if _foreign(other) else E.floor_divide(other, self)
    def __mod__(self, other): return _defer(_op.mod, self, other) if _foreign(other) else E.remainder(self, other)
    def __rmod__(self, other): return _defer(_op.mod, other, self) if _foreign(other) else E.remainder(other, self)
    def __pow__(self, other): return _defer(_op.pow, self, other) if _foreign(other) else E.pow(self, other)
    def __rpow__(self, other): return _defer(_op.pow, other, self) if _foreign(other) else E.pow(other, self)
    def __matmul__(self, other): return _defer(_op.matmul, self, other) if _foreign(other) else L.matmul(self, other)
    def __rmatmul__(self, other): return _defer(_op.matmul, other, self) if _foreign(other) else L.matmul(other, self)
    def __divmod__(self, other): return _defer(divmod, self, other) if _foreign(other) else (E.floor_divide(self, other), E.remainder(self, other))
    def __rdivmod__(self, other): return _defer(divmod, other, self) if _foreign(other) else (E.floor_divide(other, self), E.remainder(other, self))

    def __round__(self, ndigits=None):
        """``round(t)`` of a 0-d tensor is an int, as of a NumPy scalar; otherwise a tensor rounded elementwise
        (halves to even), as ``np.round(t, ndigits)`` and PyTorch's ``round(t)`` give."""
        if ndigits is None and self.data.ndim == 0:
            return round(self.numpy()[()])
        return E.round(self, 0 if ndigits is None else ndigits)

    def __neg__(self): return E.neg(self)
    def __pos__(self): return C.clone(self)  # a new tensor, as NumPy's +a
    def __abs__(self): return E.abs(self)
    def __eq__(self, other): return _defer(_op.eq, self, other) if _foreign(other) else _equality(E.equal, self, other, False)
    def __ne__(self, other): return _defer(_op.ne, self, other) if _foreign(other) else _equality(E.not_equal, self, other, True)
    def __lt__(self, other): return _defer(_op.lt, self, other) if _foreign(other) else E.less(self, other)
    def __le__(self, other): return _defer(_op.le, self, other) if _foreign(other) else E.less_equal(self, other)
    def __gt__(self, other): return _defer(_op.gt, self, other) if _foreign(other) else E.greater(self, other)
    def __ge__(self, other): return _defer(_op.ge, self, other) if _foreign(other) else E.greater_equal(self, other)
    # bitwise on integers, logical on bool, TypeError on floats: NumPy's &, |, ^, ~, <<, >>
    def __invert__(self): return E.invert(self)
    def __and__(self, other): return _defer(_op.and_, self, other) if _foreign(other) else E.bitwise_and(self, other)
    def __rand__(self, other): return _defer(_op.and_, other, self) if _foreign(other) else E.bitwise_and(other, self)
    def __or__(self, other): return _defer(_op.or_, self, other) if _foreign(other) else E.bitwise_or(self, other)
    def __ror__(self, other): return _defer(_op.or_, other, self) if _foreign(other) else E.bitwise_or(other, self)
    def __xor__(self, other): return _defer(_op.xor, self, other) if _foreign(other) else E.bitwise_xor(self, other)
    def __rxor__(self, other): return _defer(_op.xor, other, self) if _foreign(other) else E.bitwise_xor(other, self)
    def __lshift__(self, other): return _defer(_op.lshift, self, other) if _foreign(other) else E.left_shift(self, other)
    def __rlshift__(self, other): return _defer(_op.lshift, other, self) if _foreign(other) else E.left_shift(other, self)
    def __rshift__(self, other): return _defer(_op.rshift, self, other) if _foreign(other) else E.right_shift(self, other)
    def __rrshift__(self, other): return _defer(_op.rshift, other, self) if _foreign(other) else E.right_shift(other, self)

    def __hash__(self):
        # NumPy's arrays are unhashable: hashing by identity would count t[i] once per element in a dict and make
        # t[1] in {0, 1} False. A trainable leaf is a handle, though (optimizers key their state by it, as
        # PyTorch's do), so it hashes by identity; Parameter always does.
        if self._requires_grad and self._node is None:
            return object.__hash__(self)
        raise TypeError(f"unhashable tensor (shape {self.shape}, {self.dtype}), as NumPy's arrays are: use t.item() "
                        f"for a number, tuple(t.tolist()) for values, or id(t) for the tensor itself")

    def _inplace(self, op, ufunc, other):
        if self._records(other):
            return self._update(op, lambda x: _numpy_protocols.UFUNCS[ufunc.__name__](x, other), other)
        ufunc(self.data, _raw(other), out=self.data, casting="same_kind")
        self._bump_version()
        return self

    def __iadd__(self, other): return self._inplace("+=", backend.get_array_module(self.data).add, other)
    def __isub__(self, other): return self._inplace("-=", backend.get_array_module(self.data).subtract, other)
    def __imul__(self, other): return self._inplace("*=", backend.get_array_module(self.data).multiply, other)
    def __itruediv__(self, other): return self._inplace("/=", backend.get_array_module(self.data).true_divide, other)
    def __ifloordiv__(self, other): return self._inplace("//=", backend.get_array_module(self.data).floor_divide, other)
    def __imod__(self, other): return self._inplace("%=", backend.get_array_module(self.data).remainder, other)
    def __ipow__(self, other): return self._inplace("**=", backend.get_array_module(self.data).power, other)
    def __imatmul__(self, other): return self._inplace("@=", backend.get_array_module(self.data).matmul, other)

    def _inplace_bitwise(self, op, name, other):
        getattr(E, name)(self, other)  # the same checks as the operator
        return self._inplace(op, getattr(backend.get_array_module(self.data), name), other)

    def __iand__(self, other): return self._inplace_bitwise("&=", "bitwise_and", other)
    def __ior__(self, other): return self._inplace_bitwise("|=", "bitwise_or", other)
    def __ixor__(self, other): return self._inplace_bitwise("^=", "bitwise_xor", other)
    def __ilshift__(self, other): return self._inplace_bitwise("<<=", "left_shift", other)
    def __irshift__(self, other): return self._inplace_bitwise(">>=", "right_shift", other)

    def __getitem__(self, index): return I.getitem(self, index)

    def __setitem__(self, index, value):
        I.setitem(self, index, value)

    # ----- NumPy interoperability (see numpy_protocols) -----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _numpy_protocols.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _numpy_protocols.array_function(func, types, args, kwargs)

    def __array_namespace__(self, /, *, api_version=None):
        """The Array API namespace of tensors: the ``sparktensor`` package itself (standard 2024.12; the earlier
        versions 2021.12 to 2023.12 are subsets of it)."""
        from .array_api import SUPPORTED_VERSIONS
        if api_version is not None and api_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"__array_namespace__: Array API version {api_version!r} is not supported; supported: "
                             f"{', '.join(SUPPORTED_VERSIONS)}")
        return sys.modules[__package__]

    # ----- math -----
    def exp(self): return E.exp(self)
    def log(self): return E.log(self)
    def log1p(self): return E.log1p(self)
    def expm1(self): return E.expm1(self)
    def sqrt(self): return E.sqrt(self)
    def sin(self): return E.sin(self)
    def cos(self): return E.cos(self)
    def tanh(self): return E.tanh(self)
    def sigmoid(self): return E.sigmoid(self)
    def relu(self): return E.relu(self)
    def abs(self): return E.abs(self)
    def sign(self): return E.sign(self)
    def round(self, decimals=0): return E.round(self, decimals)
    def square(self): return E.mul(self, self)
    def pow(self, exponent): return E.pow(self, exponent)
    def clip(self, min=None, max=None): return E.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return E.maximum(self, other)
    def minimum(self, other): return E.minimum(self, other)
    # the Array API's other elementwise functions, under their PyTorch and NumPy method names
    def acos(self): return M.acos(self)
    def asin(self): return M.asin(self)
    def atan(self): return M.atan(self)
    def acosh(self): return M.acosh(self)
    def asinh(self): return M.asinh(self)
    def atanh(self): return M.atanh(self)
    arccos, arcsin, arctan, arccosh, arcsinh, arctanh = acos, asin, atan, acosh, asinh, atanh
    def atan2(self, other): return M.atan2(self, other)
    arctan2 = atan2
    def cosh(self): return M.cosh(self)
    def sinh(self): return M.sinh(self)
    def tan(self): return M.tan(self)
    def log2(self): return M.log2(self)
    def log10(self): return M.log10(self)
    def floor(self): return M.floor(self)
    def ceil(self): return M.ceil(self)
    def trunc(self): return M.trunc(self)
    def reciprocal(self): return M.reciprocal(self)
    def signbit(self): return M.signbit(self)
    def hypot(self, other): return M.hypot(self, other)
    def logaddexp(self, other): return M.logaddexp(self, other)
    def copysign(self, other): return M.copysign(self, other)
    def nextafter(self, other): return M.nextafter(self, other)
    def angle(self): return M.angle(self)
    def conj(self): return M.conj(self)
    conjugate = conj
    def neg(self): return E.neg(self)
    negative = neg
    def isfinite(self): return E.isfinite(self)
    def isnan(self): return E.isnan(self)
    def isinf(self): return E.isinf(self)

    @property
    def real(self):
        """The real part (the tensor itself for a real one), differentiable."""
        return M.real(self) if self.dtype.kind == "c" else self

    @property
    def imag(self):
        """The imaginary part, differentiable; of a real tensor, zeros."""
        return M.imag(self)

    # ----- reductions -----
    # dtype= computes in that type, as NumPy's methods (Dask's reductions pass it)
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None): return R.sum(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)
    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None): return R.mean(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)
    def prod(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None): return R.prod(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)
    def var(self, *args, **kwargs): return R.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return R.std(self, *args, **kwargs)
    def max(self, *args, axis=None, keepdims=None, dim=None, keepdim=None): return R.max(self, *args, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)
    def min(self, *args, axis=None, keepdims=None, dim=None, keepdim=None): return R.min(self, *args, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)
    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None): return R.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None): return R.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def all(self, axis=None, keepdims=False, *, dim=None, keepdim=None): return R.all(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def any(self, axis=None, keepdims=False, *, dim=None, keepdim=None): return R.any(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def softmax(self, axis=-1, *, dim=None): return R.softmax(self, axis, dim=dim)
    def log_softmax(self, axis=-1, *, dim=None): return R.log_softmax(self, axis, dim=dim)
    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None): return R.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    # ----- shape -----
    def reshape(self, *shape, **kwargs): return S.reshape(self, *shape, **kwargs)

    def view(self, *shape, **kwargs):
        """The same elements in another shape (PyTorch's ``view``); reading the bytes as another dtype is not
        supported."""
        if len(shape) == 1 and isinstance(shape[0], (type, np.dtype, str)):
            raise TypeError(f"view({shape[0]!r}): reading a tensor's bytes as another dtype (NumPy's and PyTorch's "
                            f"view(dtype)) is not supported; convert the values with .astype() / .to(), or go "
                            f"through .numpy().view()")
        return S.reshape(self, *shape, **kwargs)
    def transpose(self, *axes, dim0=None, dim1=None):
        """Two ints (or ``dim0``/``dim1``) swap those axes, as PyTorch; none reverses, a tuple permutes, as NumPy."""
        return S.transpose(self, *axes) if dim0 is None and dim1 is None else S.swapaxes(self, dim0, dim1)
    def permute(self, *axes): return S.permute(self, *axes)
    def swapaxes(self, axis1, axis2): return S.swapaxes(self, axis1, axis2)
    def squeeze(self, axis=None, *, dim=None): return S.squeeze(self, axis, dim=dim)
    def unsqueeze(self, axis): return S.expand_dims(self, axis)
    expand_dims = unsqueeze
    def broadcast_to(self, shape): return S.broadcast_to(self, shape)
    def expand(self, *sizes): return S.expand(self, *sizes)
    def flatten(self, start_dim=0, end_dim=-1):
        """A copy with axes ``start_dim`` to ``end_dim`` merged (all: 1-D), as NumPy's ``flatten`` always copies
        (PyTorch's may copy or view, so code cannot count on a view there)."""
        y = S.flatten(self, start_dim, end_dim)
        return C.clone(y) if backend.get_array_module(self.data).may_share_memory(y.data, self.data) else y
    def ravel(self):
        """The elements along one axis (NumPy's name for ``flatten()``)."""
        return S.reshape(self, -1)
    def split(self, sections, *position, axis=None, dim=None): return S.split(self, sections, *position, axis=axis, dim=dim)
    def chunk(self, chunks, axis=0): return S.chunk(self, chunks, axis)
    def flip(self, axis=None): return S.flip(self, axis)
    def repeat(self, *repeats, axis=None):
        """``axis=``: NumPy's element repeat; otherwise the reading the arguments allow (see docs/semantics.md)."""
        return S.repeat_method(self, repeats, axis)
    def tile(self, reps): return S.tile(self, reps)
    def pad(self, pad_width, mode="constant", constant_values=0): return S.pad(self, pad_width, mode, constant_values)

    # ----- linear algebra -----
    def matmul(self, other): return L.matmul(self, other)
    def dot(self, other): return L.dot(self, other)
    def bmm(self, other): return L.bmm(self, other)
    def addmm(self, mat1, mat2, *, beta=1, alpha=1): return L.addmm(self, mat1, mat2, beta=beta, alpha=alpha)
    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1): return L.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)
    def norm(self, p="fro", dim=None, keepdim=False, dtype=None): return L.norm(self, p, dim, keepdim, dtype)

    # ----- picking and ordering along one axis (PyTorch's; sort and cumsum by the call's form) -----
    def gather(self, dim, index): return P.gather(self, dim, index)
    def scatter(self, dim, index, src=None, *, value=None): return P.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim, index, src): return P.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return P.index_select(self, dim, index)
    def masked_fill(self, mask, value): return P.masked_fill(self, mask, value)
    def topk(self, k, dim=-1, largest=True, sorted=True): return P.topk(self, k, dim, largest, sorted)
    def argsort(self, axis=-1, *, dim=None, descending=False, stable=None, kind=None): return P.argsort(self, axis, dim=dim, descending=descending)
    def cumsum(self, axis=None, dtype=None, *, dim=None): return P.cumsum(self, axis, dtype, dim=dim)
    def cumprod(self, axis=None, dtype=None, *, dim=None): return _top().cumprod(self, axis, dtype, dim=dim)
    def roll(self, shifts, dims=None, *, axis=None): return _top().roll(self, shifts, axis=dims if axis is None else axis)
    def moveaxis(self, source, destination): return _top().moveaxis(self, source, destination)
    movedim = moveaxis
    def tril(self, diagonal=0, *, k=None): return _top().tril(self, diagonal if k is None else k)
    def triu(self, diagonal=0, *, k=None): return _top().triu(self, diagonal if k is None else k)

    def diagonal(self, offset=0, axis1=0, axis2=1, *, dim1=None, dim2=None):
        """The ``offset`` diagonal of the plane of ``axis1`` and ``axis2`` (PyTorch's ``dim1``/``dim2``), as its
        last axis, as NumPy's and PyTorch's methods."""
        axis1, axis2 = axis1 if dim1 is None else dim1, axis2 if dim2 is None else dim2
        from .linalg import diagonal
        return diagonal(_top().moveaxis(self, (axis1, axis2), (-2, -1)), offset=offset)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None):
        """The sum of the ``offset`` diagonal of the plane of ``axis1`` and ``axis2``, as NumPy's method."""
        return self.diagonal(offset, axis1, axis2).sum(axis=-1, dtype=dtype)

    def sort(self, *args, axis=None, dim=None, descending=None, stable=None, kind=None):
        """``dim=``/``descending=``: PyTorch's ``(values, indices)``; ``axis=``: NumPy's sort in place (returns
        ``None``); ``x.sort()`` alone raises, naming both (see docs/semantics.md)."""
        if axis is None and kind is None:
            return P.sort(self, *args, dim=dim, descending=descending, stable=stable)
        self._update("sort", lambda x: P.sort(x, *args, axis=axis, kind=kind))

    def scatter_(self, dim, index, src=None, *, value=None):
        """``scatter`` in place."""
        return self._update("scatter_", lambda x: P.scatter(x, dim, index, src, value=value), src, value)

    def scatter_add_(self, dim, index, src):
        """``scatter_add`` in place."""
        return self._update("scatter_add_", lambda x: P.scatter_add(x, dim, index, src), src)

    # ----- PyTorch's conveniences -----
    def t(self):
        """The transpose of a 2-D tensor; 0-d and 1-D tensors come back as they are (PyTorch's ``t``)."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with at most 2 dimensions, this one has shape {self.shape}; "
                             f"use transpose(a, b) or permute")
        return S.transpose(self) if self.ndim == 2 else self

    def contiguous(self):
        """This tensor: every layout works with every op here, so there is nothing to copy."""
        return self

    def expand_as(self, other): return S.expand(self, other.shape)
    def view_as(self, other): return S.reshape(self, other.shape)
    def reshape_as(self, other): return S.reshape(self, other.shape)
    def type_as(self, other): return C.astype(self, other.dtype)

    def _new(self, fill, size, dtype, requires_grad):
        xp = backend.get_array_module(self.data)
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        return Tensor(xp.full(shape, fill, dtype=self.dtype if dtype is None else dtypes.as_dtype(dtype)),
                      requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        """Zeros of ``size`` with this tensor's dtype and device (unless ``dtype`` is given)."""
        return self._new(0, size, dtype, requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        """Ones of ``size`` with this tensor's dtype and device."""
        return self._new(1, size, dtype, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, requires_grad=False):
        """``fill_value`` in every element of ``size``, with this tensor's dtype and device."""
        return self._new(fill_value, (size,), dtype, requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        """An uninitialized tensor of ``size`` (zeros here) with this tensor's dtype and device."""
        return self._new(0, size, dtype, requires_grad)

    def new_tensor(self, data, *, dtype=None, requires_grad=False):
        """A new tensor of ``data`` (copied) with this tensor's dtype and device."""
        array = backend.to_device(np.array(_raw(data)), self.device)
        return Tensor(array.astype(self.dtype if dtype is None else dtypes.as_dtype(dtype)),
                      requires_grad=requires_grad)


class Size(int):
    """The element count of a tensor, which called as PyTorch's ``size`` method gives the shape or one dimension."""

    def __new__(cls, shape, count):
        size = super().__new__(cls, count)
        size.shape = tuple(shape)
        return size

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        try:
            return self.shape[dim]
        except IndexError:
            raise IndexError(f"size({dim}): dimension out of range for a tensor of shape {self.shape}") from None

    def __reduce__(self):
        return int, (int(self),)


def _rebuild(cls, data, requires_grad, grad):
    """A tensor from pickled state (see ``Tensor.__reduce_ex__``)."""
    t = object.__new__(cls)
    Tensor.__init__(t, data)
    t._requires_grad = requires_grad
    t.grad = grad
    return t


def _numpy_converts_only_0d():
    """Whether the NumPy installed refuses ``float(np.ones(1))`` (rather than warning, as NumPy 2.0 to 2.3 do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            float(np.ones(1))
        except TypeError:
            return True
    return False


_NUMPY_CONVERTS_ONLY_0D = _numpy_converts_only_0d()


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


_PLAIN = frozenset((Tensor, np.ndarray, float, int, bool))


def _top():
    """The ``sparktensor`` package, for the methods that call functions defined after this module."""
    return sys.modules[__package__]


def _foreign(other):
    """True for an array type that can hold tensors (a Dask array), or a type that opts out of NumPy's operators
    (``__array_ufunc__ = None``): NEP 13 has a tensor's operators give way to its reflected ones, as an array's do."""
    kind = type(other)
    if kind in _PLAIN:
        return False
    ufunc = getattr(kind, "__array_ufunc__", False)
    return ufunc is None or (ufunc is not False and not issubclass(kind, (Tensor, np.ndarray, np.generic))
                             and not backend.is_cupy_array(other))


def _equality(op, x, other, unequal):
    """NumPy's ``==`` and ``!=``: strings compared with numbers are unequal elementwise (``t == "a"`` is all
    False) rather than an error; the shapes must still broadcast."""
    if not (isinstance(other, (str, bytes)) or (type(other) is np.ndarray and other.dtype.kind in "SU")):
        try:
            return op(x, other)
        except TypeError:
            if isinstance(other, Tensor) or np.asarray(other).dtype.kind not in "SU":
                raise
    shape = np.broadcast_shapes(x.shape, np.shape(other))
    return Tensor._from_op(backend.get_array_module(x.data).full(shape, unequal), None, 0, [0])


def _defer(op, x, y):
    """``x op y`` left to the foreign operand, so ``t + dask_array`` is a Dask array as ``dask_array + t`` is.

    Dask takes tensors only once they are registered as its chunk type; when that happens just now, the
    operation is asked again (once), else NotImplemented hands it over."""
    return op(x, y) if _numpy_protocols.register_with_dask() else NotImplemented


from .autograd import grad_mode as _grad_mode  # noqa: E402  (these modules import Tensor)
from . import autograd as _autograd  # noqa: E402
from .ops import math_functions as M  # noqa: E402
from .ops import (conversion as C, elementwise as E, indexing as I, linalg as L, reduction as R,  # noqa: E402
                  selection as P, shape as S)
from . import numpy_protocols as _numpy_protocols  # noqa: E402
