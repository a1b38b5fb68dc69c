"""``Function``: one differentiable operation, its forward and backward side by side.

A Function works on raw arrays (NumPy or CuPy): ``forward(ctx, *args)`` gets the
arrays of the Tensor arguments (other arguments pass through unchanged) and
returns an array or a tuple of arrays; ``backward(ctx, *grads)`` gets one
gradient array per output and returns one gradient (or ``None``) per positional
argument of ``forward``. ``Function.apply`` wraps the result in Tensors and, when
a Tensor argument requires grad, records the node in the graph.
"""
import sys

import numpy as np

from .. import backend
from .grad_mode import _state as _grad_state
from .strict_dtypes import _state as _dtype_state, check_same_float_dtype
from ..tensor import Tensor

FREED_GRAPH = ("trying to backward through the graph a second time (its saved arrays were freed "
               "after the first backward); pass retain_graph=True to the first backward or grad call")


class Function:
    """Base class of differentiable operations; subclass it and define ``forward`` and ``backward``."""

    is_view = False  # True when the output shares memory (and so a version counter) with the first argument
    once_differentiable = False  # True when backward cannot run on Tensors: its gradient is then not differentiable
    needs_input_grad = ()
    _saved = ()
    _saved_versions = ()
    _saved_constants = ()  # positions of saved arrays that were passed to forward as plain arrays
    _parents = ()
    _out_meta = None
    _grad_hooks = None  # {output index: {handle id: hook}} from Tensor.register_hook
    _freed = False
    _recording = False  # True while backward runs on Tensors for create_graph=True

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    _non_differentiable = ()
    _materialize_grads = True

    def mark_non_differentiable(self, *arrays):
        """Outputs (the arrays ``forward`` returns) that get no gradient: their tensors do not require grad."""
        self._non_differentiable = tuple(id(a) for a in arrays)

    def set_materialize_grads(self, value):
        """With ``False``, ``backward`` gets ``None`` (not zeros) for outputs that received no gradient."""
        self._materialize_grads = bool(value)

    def save_for_backward(self, *arrays):
        """Keep arrays for backward; in-place changes to them before backward are detected."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``; while a gradient is recorded (``create_graph=True``), the
        graph's own tensors of which they are the data."""
        if self._freed:
            raise RuntimeError(FREED_GRAPH)
        for counter, version, position, _ in self._saved_versions:
            if counter[0] != version:
                raise RuntimeError(
                    f"one of the arrays needed to compute the gradient of {type(self).__name__} (saved array "
                    f"{position}) was modified in place after it was saved (version {version} -> {counter[0]}); "
                    f"make a copy before modifying it, or modify it before using it")
        if self._recording:
            return self._saved_in_graph()
        return self._saved

    def _saved_in_graph(self):
        sources = {position: source for _, _, position, source in self._saved_versions}
        out = []
        for position, array in enumerate(self._saved):
            source = sources.get(position)
            if isinstance(source, Tensor):
                out.append(source)
            elif source is not None:  # an output of this node: a tensor on the same graph edge
                out.append(Tensor._from_op(array, self, source, [0]))
            elif position in self._saved_constants or getattr(array, "dtype", None) is None or \
                    array.dtype.kind not in "fc":
                out.append(array)  # plain arrays passed in, integer indices, masks: constants of the gradient
            else:
                raise RuntimeError(
                    f"{type(self).__name__} saved a float array (saved array {position}) that is neither an input "
                    f"nor an output of its forward, so its gradient cannot be differentiated again "
                    f"(create_graph=True); recompute it in backward, or mark the Function once_differentiable")
        return tuple(out)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors and record it in the graph when a Tensor argument requires grad."""
        raw = []
        requires = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                if a._requires_grad:
                    requires = True
            else:
                raw.append(a)
        if "cupy" in sys.modules:
            backend.check_same_device(cls.__name__, raw)
        if _dtype_state.strict:
            check_same_float_dtype(cls.__name__, raw)
        ctx = cls()
        out = cls.forward(ctx, *raw, **kwargs)
        single = type(out) is not tuple
        version = args[0]._version if cls.is_view and isinstance(args[0], Tensor) else [0]
        if not (requires and _grad_state.enabled):
            if single:
                return Tensor._from_op(out, None, 0, version)
            return tuple(Tensor._from_op(o, None, 0, version) for o in out)

        needs, parents = [], []
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                needs.append(True)
                parents.append((a._node, a._index) if a._node is not None else a._edge())
            else:
                needs.append(False)
                parents.append(None)
        ctx.needs_input_grad = needs
        ctx._parents = parents
        if single:
            result = Tensor._from_op(out, None if id(out) in ctx._non_differentiable else ctx, 0, version)
            outs = (result,)
        else:
            ctx._out_meta = tuple((o.shape, o.dtype) for o in out)
            result = outs = tuple(Tensor._from_op(o, None if id(o) in ctx._non_differentiable else ctx, i, version)
                                  for i, o in enumerate(out))
        if ctx._saved:
            ctx._track_saved(args, outs)
        return result

    def _track_saved(self, args, outs):
        """Remember the version of every saved array that is the data of a Tensor argument or output, and which
        tensor that is (so that ``create_graph`` can differentiate through it)."""
        tracked = []
        for position, s in enumerate(self._saved):
            for t in args:
                if isinstance(t, Tensor):
                    if t.data is s:
                        tracked.append((t._version, t._version[0], position, t))
                        break
                elif t is s:  # a plain array passed in: a constant of the gradient
                    self._saved_constants = (*self._saved_constants, position)
                    break
            else:
                for t in outs:
                    if t.data is s:  # an output: its tensor's index is its place among the outputs
                        tracked.append((t._version, t._version[0], position, t._index))
                        break
        self._saved_versions = tracked

    def _run_backward(self, grads):
        if self._freed:
            raise RuntimeError(FREED_GRAPH)
        if self._out_meta is not None and self._materialize_grads and any(g is None for g in grads):
            xp = backend.get_array_module(*[g for g in grads if g is not None])
            grads = [xp.zeros(shape, dtype) if g is None else g for g, (shape, dtype) in zip(grads, self._out_meta)]
        gxs = type(self).backward(self, *grads)
        if type(gxs) is not tuple or len(gxs) != len(self._parents):
            return self._checked(gxs)
        return gxs

    def _run_backward_in_graph(self, grads):
        """Backward on Tensors, recorded in the graph (``create_graph=True``); gradients come back as Tensors."""
        if self._freed:
            raise RuntimeError(FREED_GRAPH)
        if self._out_meta is not None and self._materialize_grads and any(g is None for g in grads):
            from ..creation import zeros
            grads = [zeros(shape, dtype=dtype, device=backend.device_of(self._saved[0]) if self._saved else None)
                     if g is None else g for g, (shape, dtype) in zip(grads, self._out_meta)]
        if not self.once_differentiable:
            self._recording = True
            try:
                gxs = self._checked(type(self).backward(self, *grads))
            finally:
                self._recording = False
            return tuple(None if g is None else g if isinstance(g, Tensor) else Tensor._from_op(g, None, 0, [0])
                         for g in gxs)
        needed = any(isinstance(g, Tensor) and g.requires_grad for g in grads) or any(
            isinstance(t, Tensor) and t.requires_grad for _, _, _, t in self._saved_versions)
        raw = [g.data if isinstance(g, Tensor) else g for g in grads]
        gxs = self._checked(type(self).backward(self, *raw))
        return tuple(None if g is None else Tensor._from_op(g, OnceDifferentiated.node(self.name()) if needed else None,
                                                            0, [0]) for g in gxs)

    def _checked(self, gxs):
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(self._parents):
            raise RuntimeError(f"{type(self).__name__}.backward returned {len(gxs)} gradient(s), expected "
                               f"{len(self._parents)} (one per positional argument of forward, None for non-tensors)")
        return gxs

    def _release(self):
        self._saved = self._saved_versions = ()  # the versions hold the argument tensors: let them go too
        self._freed = True

    def name(self):
        return type(self).__name__


class OnceDifferentiated(Function):
    """The node of a ``once_differentiable`` op's gradient inside a recorded gradient: differentiating it raises."""

    @classmethod
    def node(cls, op):
        ctx = cls()
        ctx.op, ctx.needs_input_grad, ctx._parents = op, (False,), (None,)
        return ctx

    @staticmethod
    def backward(ctx, gg):
        raise RuntimeError(f"the gradient of {ctx.op} cannot be differentiated again (it is marked "
                           f"once_differentiable); create_graph=True needs every op on the path to be twice "
                           f"differentiable")


class AccumulateGrad:
    """Graph node of a leaf tensor: adds the incoming gradient to ``tensor.grad``."""

    _parents = ()
    _out_meta = None
    _grad_hooks = None  # {output index: {handle id: hook}} from Tensor.register_hook
    _freed = False

    def __init__(self, tensor):
        self.tensor = tensor

    def accumulate(self, g):
        """Add ``g`` to ``.grad``; ``g`` is taken over without a copy only when nothing else refers to it."""
        if isinstance(g, Tensor):  # create_graph: .grad keeps the gradient's own graph
            t = self.tensor
            g = g if g.dtype == t.dtype else g.astype(t.dtype)
            t.grad = g if t.grad is None else t.grad + g
            return
        exclusive = sys.getrefcount(g) <= _EXCLUSIVE_REFCOUNT
        t = self.tensor
        if g.shape != t.shape:
            raise RuntimeError(f"gradient of shape {g.shape} does not match its tensor of shape {t.shape}")
        if g.dtype != t.dtype:
            g, exclusive = g.astype(t.dtype), True
        if t.grad is not None:
            t.grad = Tensor(t.grad.data + g)
        elif exclusive and g.base is None and g.flags.writeable:
            t.grad = Tensor(g)
        else:
            # g may be shared with another gradient or a saved array, or be a read-only broadcast view
            t.grad = Tensor(g.copy())

    def _release(self):
        pass

    def name(self):
        return "AccumulateGrad"



def _exclusive_refcount():
    """The reference count ``accumulate`` sees for an array that only the engine holds."""
    class Probe(AccumulateGrad):
        def accumulate(self, g):
            return sys.getrefcount(g)

    def engine_like(node):
        g = np.empty(1)
        return node.accumulate(g)
    return engine_like(Probe(None))


_EXCLUSIVE_REFCOUNT = _exclusive_refcount()
