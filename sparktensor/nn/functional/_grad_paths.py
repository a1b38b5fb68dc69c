"""The two paths a backward formula runs on: raw arrays (fast), or Tensors recording a gradient (create_graph)."""
import functools
import sys

from ...autograd.function import Function
from ...ops._grad_utils import namespace_of

__all__ = ["KeepsIntermediates", "RecomputedGradient", "constant", "namespace_of", "recording", "run", "raw",
           "spread"]


class KeepsIntermediates(Function):
    """A Function whose fast backward reuses float arrays computed in forward (``ctx.keep``) that are neither its
    inputs nor its outputs; a recorded gradient recomputes them from the saved inputs instead. Like saved arrays,
    they are let go once backward has run (unless the graph is retained)."""

    intermediates = ()

    def keep(self, *arrays):
        """Keep ``arrays`` for the fast backward, beside those given to ``save_for_backward``."""
        self.intermediates = arrays

    def _release(self):
        super()._release()
        self.intermediates = ()


def recording(xp):
    """Whether ``xp`` (from ``namespace_of``) is sparktensor itself: the gradient is being recorded as Tensors."""
    return xp.__name__ == "sparktensor"


def run(function, xp, *args):
    """``function`` on ``args``: recorded with ``apply`` on the Tensor path, its bare ``forward`` on raw arrays."""
    if recording(xp):
        return function.apply(*args)
    return function.forward(function(), *args)


def constant(xp, array):
    """``array`` as a constant of a recorded gradient (a Tensor that needs no gradient) on the Tensor path, so the
    ops it meets keep it as an input; unchanged on raw arrays."""
    return sys.modules["sparktensor"].Tensor(array) if recording(xp) else array


def raw(value):
    """The array of a Tensor (a constant such as indices or a mask handed back by ``saved_tensors``), else itself."""
    return value.data if isinstance(value, sys.modules["sparktensor"].Tensor) else value


class RecomputedGradient(Function):
    """The gradient of a composite ``fn`` (a function of Tensors built from differentiable ops) at its first
    ``n_inputs`` values against output gradients (the other values), as arrays: one per float input (None and
    integer or boolean values, such as masks, are constants).

    A fused op whose backward writes buffers in place records its gradient as this node instead: ``fn`` recomputes
    the op from ops, and the node's own gradient is again a ``RecomputedGradient``, of the map from (inputs,
    output gradients) to those gradients, so the result can be differentiated to any order. Each level runs on
    detached copies, so it never walks the graph beyond the op.
    """

    @staticmethod
    def forward(ctx, fn, n_inputs, *values):
        ctx.fn, ctx.n_inputs = fn, n_inputs
        ctx.save_for_backward(*values)
        st = sys.modules["sparktensor"]
        with st.enable_grad():
            leaves = [None if v is None else st.Tensor(v, requires_grad=_is_float(v)) for v in values]
            # recorded (create_graph) so that a surrounding recorded backward's mode does not change how it runs
            return tuple(g.data for g in _vjp(fn, n_inputs, *leaves))

    @staticmethod
    def backward(ctx, *ggs):
        values = ctx.saved_tensors
        xp = namespace_of(*[v for v in ggs + tuple(values) if v is not None])
        gradients = run(RecomputedGradient, xp, functools.partial(_vjp, ctx.fn, ctx.n_inputs), len(values), *values,
                        *ggs)
        return (None, None) + spread(gradients, values)


def spread(gradients, values):
    """One gradient per value from one per float value: None in the places of None, integer and boolean values."""
    gradients = iter(gradients)
    return tuple(next(gradients) if _is_float(v) else None for v in values)


def _is_float(v):
    return v is not None and v.dtype.kind in "fc"


def _vjp(fn, n_inputs, *values):
    """The recorded gradients of ``fn(*values[:n_inputs])`` against ``values[n_inputs:]``, one per float input."""
    st = sys.modules["sparktensor"]
    inputs, grads = values[:n_inputs], values[n_inputs:]
    outs = fn(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o is not None and o.requires_grad]
    targets = [x for x in inputs if _is_float(x)]
    gs = st.autograd.grad([o for o, _ in pairs], targets, [g for _, g in pairs], create_graph=True, allow_unused=True)
    return tuple(st.zeros_like(x) if g is None else g for g, x in zip(gs, targets))
