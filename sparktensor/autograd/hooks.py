"""Hooks: a handle that removes what it registered, and gradient hooks on graph edges (``Tensor.register_hook``)."""
import itertools

_ids = itertools.count()


class RemovableHandle:
    """What ``register_*hook`` returns: ``remove()`` (or leaving a ``with`` block) unregisters the hook."""

    def __init__(self, *tables):
        self.id = next(_ids)
        self._tables = tables

    def remove(self):
        """Unregister the hook; removing twice does nothing."""
        for table in self._tables:
            table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def add_grad_hook(node, index, hook):
    """Call ``hook(grad)`` on the gradient reaching output ``index`` of ``node``; a returned tensor replaces it."""
    if node.__dict__.get("_grad_hooks") is None:
        node._grad_hooks = {}
    table = node._grad_hooks.setdefault(index, {})
    handle = RemovableHandle(table)
    table[handle.id] = hook
    return handle


def run_grad_hooks(node, grads):
    """The gradients of ``node``'s outputs after its hooks (in registration order) had their say."""
    from ..tensor import Tensor
    grads = list(grads)
    for index, table in node._grad_hooks.items():
        for hook in list(table.values()):
            if grads[index] is None:
                continue
            recorded = isinstance(grads[index], Tensor)  # create_graph: the gradient is a graph tensor
            out = hook(grads[index] if recorded else Tensor(grads[index]))
            if out is not None:
                if recorded:
                    out = out if isinstance(out, Tensor) else Tensor(out)
                elif isinstance(out, Tensor):
                    out = out.data
                if out.shape != grads[index].shape:
                    raise RuntimeError(f"a gradient hook returned shape {out.shape} for a gradient of shape "
                                       f"{grads[index].shape}")
                grads[index] = out
    return grads
