"""``SGD``: stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""
from ..backend import get_array_module
from ..parallel import update_in_chunks
from ..tensor import Tensor
from .optimizer import Optimizer, axpy_, check_non_negative, direction_


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's update (momentum buffer starts as the first gradient).

    ``d = g + wd * p``; with momentum ``b = momentum * b + (1 - dampening) * d`` and ``d = b`` (or
    ``d + momentum * b`` for Nesterov); then ``p -= lr * d``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        check_non_negative(momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening 0, got momentum={momentum} "
                             f"and dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _step_group(self, group, params):
        momentum = group["momentum"]
        fresh, running = [], []
        for p in params:
            x = p.data
            if momentum == 0:
                running.append(((x, p.grad.data), ()))
                continue
            state = self.state[p]
            buffer = state.get("momentum_buffer")
            if buffer is None:  # the first step's buffer is the gradient itself, written by the update
                buffer = state["momentum_buffer"] = Tensor(get_array_module(x).empty_like(x))
                fresh.append(((x, p.grad.data, buffer.data), ()))
            else:
                running.append(((x, p.grad.data, buffer.data), ()))
        for items, first in ((fresh, True), (running, False)):
            if items:
                update_in_chunks(_sgd_update(group, first), items, scratch=2)


def _sgd_update(group, first):
    """The in-place update of pieces of weight ``x``, gradient ``g`` and (with momentum) buffer ``b``, in
    PyTorch's order of operations."""
    lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
    weight_decay, maximize, nesterov = group["weight_decay"], group["maximize"], group["nesterov"]

    def update(x, g, *rest):
        xp = get_array_module(x)
        b, tmp, d_tmp = rest if momentum != 0 else (None,) + rest
        d = direction_(xp, g, x, weight_decay, maximize, d_tmp)
        if momentum != 0:
            if first:
                xp.copyto(b, d)
            else:
                xp.multiply(b, momentum, out=b)
                axpy_(xp, b, 1 - dampening, d, tmp)
            if nesterov:
                xp.multiply(b, momentum, out=tmp)
                d = xp.add(d, tmp, out=tmp)
            else:
                d = b
        axpy_(xp, x, -lr, d, tmp)
    return update
