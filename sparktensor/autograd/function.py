"""``Function``: one differentiable operation, its forward and backward side by side.

A Function works on raw arrays (NumPy or CuPy): ``forward(ctx, *args)`` gets the
arrays of the Tensor arguments (other arguments pass through unchanged) and
returns an array or a tuple of arrays; ``backward(ctx, *grads)`` gets one
gradient array per output and returns one gradient (or ``None``) per positional
argument of ``forward``. ``Function.apply`` wraps the result in Tensors and, when
a Tensor argument requires grad, records the node in the graph.
"""
import sys

from .. import backend
from .grad_mode import is_grad_enabled
from ..tensor import Tensor

FREED_GRAPH = ("trying to backward through the graph a second time (its saved arrays were freed "
               "after the first backward); pass retain_graph=True to the first backward or grad call")


class Function:
    """Base class of differentiable operations; subclass it and define ``forward`` and ``backward``."""

    is_view = False  # True when the output shares memory (and so a version counter) with the first argument
    needs_input_grad = ()
    _saved = ()
    _saved_versions = ()
    _parents = ()
    _out_meta = None
    _freed = False

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    def save_for_backward(self, *arrays):
        """Keep arrays for backward; in-place changes to them before backward are detected."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``."""
        if self._freed:
            raise RuntimeError(FREED_GRAPH)
        for counter, version, position in self._saved_versions:
            if counter[0] != version:
                raise RuntimeError(
                    f"one of the arrays needed to compute the gradient of {type(self).__name__} (saved array "
                    f"{position}) was modified in place after it was saved (version {version} -> {counter[0]}); "
                    f"make a copy before modifying it, or modify it before using it")
        return self._saved

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors and record it in the graph when a Tensor argument requires grad."""
        raw = []
        requires = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                if a.requires_grad:
                    requires = True
            else:
                raw.append(a)
        if "cupy" in sys.modules:
            backend.check_same_device(cls.__name__, raw)
        ctx = cls()
        requires = requires and is_grad_enabled()
        out = cls.forward(ctx, *raw, **kwargs)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out

        if cls.is_view and isinstance(args[0], Tensor):
            version = args[0]._version
        else:
            version = [0]
        if requires:
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            ctx._parents = tuple(a._edge() if needs else None for a, needs in zip(args, ctx.needs_input_grad))
            if not single:
                ctx._out_meta = tuple((o.shape, o.dtype) for o in outs)
            results = tuple(Tensor._from_op(o, ctx, i, version) for i, o in enumerate(outs))
            if ctx._saved:
                ctx._track_saved(args, raw, results)
        else:
            results = tuple(Tensor._from_op(o, None, 0, version) for o in outs)
        return results[0] if single else results

    def _track_saved(self, args, raw, results):
        """Remember the version of every saved array that belongs to a Tensor argument or output."""
        tracked = []
        for position, s in enumerate(self._saved):
            for a, r in zip(args, raw):
                if r is s and isinstance(a, Tensor):
                    tracked.append((a._version, a._version[0], position))
                    break
            else:
                for t in results:
                    if t.data is s:
                        tracked.append((t._version, t._version[0], position))
                        break
        self._saved_versions = tracked

    def _run_backward(self, grads):
        if self._freed:
            raise RuntimeError(FREED_GRAPH)
        if self._out_meta is not None and any(g is None for g in grads):
            xp = backend.get_array_module(*[g for g in grads if g is not None])
            grads = [xp.zeros(shape, dtype) if g is None else g for g, (shape, dtype) in zip(grads, self._out_meta)]
        gxs = type(self).backward(self, *grads)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(self._parents):
            raise RuntimeError(f"{type(self).__name__}.backward returned {len(gxs)} gradient(s), expected "
                               f"{len(self._parents)} (one per positional argument of forward, None for non-tensors)")
        return gxs

    def _release(self):
        self._saved = ()
        self._freed = True

    def name(self):
        return type(self).__name__


class AccumulateGrad:
    """Graph node of a leaf tensor: adds the incoming gradient to ``tensor.grad``."""

    _parents = ()
    _out_meta = None
    _freed = False

    def __init__(self, tensor):
        self.tensor = tensor

    def accumulate(self, g):
        t = self.tensor
        if g.shape != t.shape:
            raise RuntimeError(f"gradient of shape {g.shape} does not match its tensor of shape {t.shape}")
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        # a fresh array: g may be shared with other gradients or be a read-only broadcast view
        t.grad = Tensor(g.copy()) if t.grad is None else Tensor(t.grad.data + g)

    def _release(self):
        pass

    def name(self):
        return "AccumulateGrad"

