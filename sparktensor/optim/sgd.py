"""``SGD``: stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""
from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer, axpy_, check_non_negative


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
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        for p in params:
            x = p.data
            xp = get_array_module(x)
            g = self._grad(p, group["weight_decay"], group["maximize"])
            tmp = self._scratch(x, 1)
            if momentum != 0:
                state = self.state[p]
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = Tensor(g.copy())
                else:
                    xp.multiply(buffer.data, momentum, out=buffer.data)
                    axpy_(xp, buffer.data, 1 - dampening, g, tmp)
                if group["nesterov"]:
                    xp.multiply(buffer.data, momentum, out=tmp)
                    g = xp.add(g, tmp, out=tmp)
                else:
                    g = buffer.data
            axpy_(xp, x, -lr, g, tmp)
