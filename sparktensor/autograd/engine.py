"""The backward engine: iterative, in dependency order, so graphs of any depth work.

Nodes are ``Function`` instances (and ``AccumulateGrad`` for leaves); each holds
``_parents``, one ``(node, output_index)`` edge or ``None`` per argument. A node
runs once every consumer has passed its gradient, so each gradient is summed
exactly once before it flows on.
"""
from .function import FREED_GRAPH, AccumulateGrad
from .grad_mode import _state as grad_mode_state
from .hooks import run_grad_hooks


def _count_dependencies(roots):
    """Number of incoming gradient edges per node reachable from ``roots``, without recursion."""
    dependencies = {}
    seen = set(roots)
    stack = list(seen)
    while stack:
        node = stack.pop()
        for edge in node._parents:
            if edge is None:
                continue
            parent = edge[0]
            dependencies[parent] = dependencies.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return dependencies


def _add_to(buffers, node, index, g):
    slots = buffers.get(node)
    if slots is None:
        slots = buffers[node] = [None] * (len(node._out_meta) if node._out_meta else 1)
    slots[index] = g if slots[index] is None else slots[index] + g


def run_backward(root_edges, root_grads, retain_graph=False, capture=None, create_graph=False):
    """Propagate ``root_grads`` from ``root_edges`` to the leaves.

    Without ``capture``, gradients of leaves accumulate into their ``.grad``.
    With ``capture`` (a dict keyed by edge), the gradient reaching each edge is
    stored there instead and no ``.grad`` is touched. With ``create_graph``, the
    gradients are Tensors whose computation is itself recorded (``root_grads``
    must then be Tensors), so they can be differentiated again.
    """
    if not create_graph:
        return _propagate(root_edges, root_grads, retain_graph, capture, False)
    previous, grad_mode_state.enabled = grad_mode_state.enabled, True
    try:
        return _propagate(root_edges, root_grads, retain_graph, capture, True)
    finally:
        grad_mode_state.enabled = previous


def _propagate(root_edges, root_grads, retain_graph, capture, recording):
    buffers = {}
    for (node, index), g in zip(root_edges, root_grads):
        _add_to(buffers, node, index, g)
    roots = list(buffers)
    dependencies = _count_dependencies(roots)
    ready = [node for node in roots if dependencies.get(node, 0) == 0]
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None)
        if grads is not None and getattr(node, "_grad_hooks", None):
            grads = run_grad_hooks(node, grads)
        if capture is not None and grads is not None:
            for index, g in enumerate(grads):
                if (node, index) in capture and g is not None:
                    capture[(node, index)] = g
        if isinstance(node, AccumulateGrad):
            if capture is None and grads is not None and grads[0] is not None:
                g = grads[0]
                grads = None  # so that accumulate can tell whether anything else holds g
                node.accumulate(g)
            continue
        if grads is None or all(g is None for g in grads):
            parent_grads = (None,) * len(node._parents)
            if node._freed:
                raise RuntimeError(FREED_GRAPH)
        else:
            parent_grads = node._run_backward_in_graph(grads) if recording else node._run_backward(grads)
        if not retain_graph:
            node._release()
        for edge, g in zip(node._parents, parent_grads):
            if edge is None:
                continue
            parent, index = edge
            if g is not None:
                _add_to(buffers, parent, index, g)
            dependencies[parent] -= 1
            if dependencies[parent] == 0:
                ready.append(parent)
        # hold no gradient beyond its buffer, so that accumulate can take it over without a copy
        grads = parent_grads = g = None
