"""Entry points of differentiation: ``backward`` and ``grad``, first order or, with ``create_graph``, recorded."""
from ..backend import get_array_module


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _root_grads(outputs, grad_outputs, create_graph=False):
    """The gradients backward starts from: arrays, or Tensors (which may carry a graph) under ``create_graph``."""
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
        elif tuple(g.shape) != tuple(y.shape):
            raise RuntimeError(f"the gradient has shape {tuple(g.shape)} but its tensor has shape {y.shape}")
        if create_graph:
            g = g if isinstance(g, Tensor) else Tensor._from_op(get_array_module(y.data).asarray(g), None, 0, [0])
            grads.append(g if g.dtype == y.dtype else g.astype(y.dtype))
        else:
            g = g.data if isinstance(g, Tensor) else g
            grads.append(g.astype(y.dtype, copy=False))
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into ``.grad`` of the leaves they depend on (of ``inputs`` only, when
    given). With ``create_graph`` the gradients are recorded, so ``.grad`` can be differentiated again."""
    from .engine import run_backward
    tensors = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    retain_graph = create_graph if retain_graph is None else retain_graph
    roots = [t._edge() for t in tensors]
    if inputs is None:
        run_backward(roots, _root_grads(tensors, grads, create_graph), retain_graph, create_graph=create_graph)
        return
    inputs = _as_tuple(inputs)
    for got, x in zip(grad(tensors, inputs, grads, retain_graph, create_graph, allow_unused=True), inputs):
        if got is not None:
            x.grad = got if x.grad is None else x.grad + got


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` stays untouched. With
    ``create_graph`` the gradients carry their own graph (for Hessian-vector products, gradient penalties)."""
    from ..tensor import Tensor
    from .engine import run_backward
    if is_grads_batched:
        raise ValueError("grad(is_grads_batched=True) needs batched (vmap) autodiff, which sparktensor does not have; "
                         "loop over the batch of grad_outputs instead")
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    grads = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    retain_graph = create_graph if retain_graph is None else retain_graph
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"an input of shape {x.shape} does not require grad, so it has no gradient")
    edges = [x._edge() for x in inputs]
    capture = dict.fromkeys(edges)
    run_backward([y._edge() for y in outputs], _root_grads(outputs, grads, create_graph), retain_graph, capture,
                 create_graph)
    result = []
    for i, (x, edge) in enumerate(zip(inputs, edges)):
        g = capture[edge]
        if g is None and not allow_unused:
            raise RuntimeError(f"input {i} (shape {x.shape}) was not used to compute the outputs; pass "
                               f"allow_unused=True to get None for it")
        if g is None:
            result.append(_zeros_like(x) if materialize_grads else None)
        elif isinstance(g, Tensor):
            result.append(g if g.dtype == x.dtype else g.astype(x.dtype))
        else:
            result.append(Tensor(g.astype(x.dtype, copy=False)))
    return tuple(result)


def _zeros_like(x):
    from ..creation import zeros_like
    return zeros_like(x)
