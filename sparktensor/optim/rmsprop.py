"""``RMSprop``: gradients divided by a running root mean square, optionally centered and with momentum."""
from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer, addcmul_, advance, check_non_negative, lerp_, step_counter


class RMSprop(Optimizer):
    """RMSprop (Hinton), with PyTorch's update: ``eps`` is added outside the square root.

    ``v = alpha * v + (1 - alpha) * g * g``; centered subtracts the square of ``lerp(a, g, 1 - alpha)`` from
    ``v``; ``d = g / (sqrt(v) + eps)``; with momentum ``b = momentum * b + d`` and ``d = b``; ``p -= lr * d``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        check_non_negative(alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _step_group(self, group, params):
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        for p in params:
            x = p.data
            xp = get_array_module(x)
            state = self.state[p]
            if not state:
                state["step"] = step_counter()
                state["square_avg"] = Tensor(xp.zeros_like(x))
                if momentum > 0:
                    state["momentum_buffer"] = Tensor(xp.zeros_like(x))
                if group["centered"]:
                    state["grad_avg"] = Tensor(xp.zeros_like(x))
            advance(state["step"])
            g = self._grad(p, group["weight_decay"], group["maximize"])
            v = state["square_avg"].data
            tmp = self._scratch(x, 1)
            xp.multiply(v, alpha, out=v)
            addcmul_(xp, v, g, g, 1 - alpha, tmp)
            if group["centered"]:
                a = lerp_(xp, state["grad_avg"].data, g, 1 - alpha, tmp)
                xp.multiply(a, a, out=tmp)
                denominator = xp.sqrt(xp.subtract(v, tmp, out=tmp), out=tmp)
            else:
                denominator = xp.sqrt(v, out=tmp)
            xp.add(denominator, eps, out=denominator)
            update = xp.divide(g, denominator, out=denominator)
            if momentum > 0:
                buffer = state["momentum_buffer"].data
                xp.multiply(buffer, momentum, out=buffer)
                xp.add(buffer, update, out=buffer)
                update = xp.multiply(buffer, -lr, out=update)
            else:
                xp.multiply(update, -lr, out=update)
            xp.add(x, update, out=x)
