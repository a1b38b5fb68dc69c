"""The two paths a backward formula runs on: raw arrays (fast), or Tensors recording a gradient (create_graph)."""
from ...autograd.function import Function
from ...ops._grad_utils import namespace_of


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


def raw(value):
    """The array of a Tensor (a constant such as indices or a mask handed back by ``saved_tensors``), else itself."""
    return value.data if type(value).__name__ == "Tensor" else value


__all__ = ["KeepsIntermediates", "namespace_of", "recording", "run", "raw"]
