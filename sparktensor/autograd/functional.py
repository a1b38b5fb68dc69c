"""Entry points of differentiation: ``backward`` and the functional ``grad``."""
from ..backend import get_array_module


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _root_grads(outputs, grad_outputs):
    from ..tensor import Tensor
    grads = []
    for y, g in zip(outputs, grad_outputs):
        if not y.requires_grad:
            raise RuntimeError("a tensor to differentiate does not require grad and has no graph node; set "
                               "requires_grad=True on its inputs (and do not compute it under st.no_grad())")
        if g is None:
            if y.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a tensor with one element, this one has "
                                   f"shape {y.shape}; pass a gradient of that shape, e.g. y.backward(st.ones_like(y))")
            g = get_array_module(y.data).ones_like(y.data)
        else:
            g = g.data if isinstance(g, Tensor) else g
            if tuple(g.shape) != tuple(y.shape):
                raise RuntimeError(f"the gradient has shape {tuple(g.shape)} but its tensor has shape {y.shape}")
        grads.append(g.astype(y.dtype, copy=False))
    return grads


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulate gradients of ``tensors`` into ``.grad`` of the leaves they depend on."""
    from .engine import run_backward
    tensors = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    run_backward([t._edge() for t in tensors], _root_grads(tensors, grads), retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` stays untouched."""
    from ..tensor import Tensor
    from .engine import run_backward
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    grads = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"an input of shape {x.shape} does not require grad, so it has no gradient")
    edges = [x._edge() for x in inputs]
    capture = dict.fromkeys(edges)
    run_backward([y._edge() for y in outputs], _root_grads(outputs, grads), retain_graph, capture)
    result = []
    for i, (x, edge) in enumerate(zip(inputs, edges)):
        g = capture[edge]
        if g is None and not allow_unused:
            raise RuntimeError(f"input {i} (shape {x.shape}) was not used to compute the outputs; pass "
                               f"allow_unused=True to get None for it")
        result.append(None if g is None else Tensor(g.astype(x.dtype, copy=False)))
    return tuple(result)
