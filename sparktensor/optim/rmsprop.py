"""``RMSprop``: gradients divided by a running root mean square, optionally centered and with momentum."""
from ..backend import get_array_module
from ..parallel import update_in_chunks
from ..tensor import Tensor
from .optimizer import Optimizer, addcmul_, advance, check_non_negative, direction_, lerp_, step_counter


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
        items = []
        for p in params:
            x = p.data
            xp = get_array_module(x)
            state = self.state[p]
            if not state:
                state["step"] = step_counter()
                state["square_avg"] = Tensor(xp.zeros_like(x))
                if group["momentum"] > 0:
                    state["momentum_buffer"] = Tensor(xp.zeros_like(x))
                if group["centered"]:
                    state["grad_avg"] = Tensor(xp.zeros_like(x))
            advance(state["step"])
            arrays = (x, p.grad.data, state["square_avg"].data)
            arrays += (state["momentum_buffer"].data,) if group["momentum"] > 0 else ()
            arrays += (state["grad_avg"].data,) if group["centered"] else ()
            items.append((arrays, ()))
        update_in_chunks(_rmsprop_update(group), items, scratch=2)


def _rmsprop_update(group):
    """The in-place update of pieces of weight ``x``, gradient ``g``, mean square ``v`` (and momentum buffer,
    mean gradient where used), in PyTorch's order of operations."""
    lr, alpha, eps, momentum, centered = group["lr"], group["alpha"], group["eps"], group["momentum"], group["centered"]
    weight_decay, maximize = group["weight_decay"], group["maximize"]

    def update(x, g, v, *rest):
        *state, tmp, d_tmp = rest
        buffer = state.pop(0) if momentum > 0 else None
        xp = get_array_module(x)
        g = direction_(xp, g, x, weight_decay, maximize, d_tmp)
        xp.multiply(v, alpha, out=v)
        addcmul_(xp, v, g, g, 1 - alpha, tmp)
        if centered:
            a = lerp_(xp, state[0], g, 1 - alpha, tmp)
            xp.multiply(a, a, out=tmp)
            denominator = xp.sqrt(xp.subtract(v, tmp, out=tmp), out=tmp)
        else:
            denominator = xp.sqrt(v, out=tmp)
        xp.add(denominator, eps, out=denominator)
        update = xp.divide(g, denominator, out=denominator)
        if buffer is not None:
            xp.multiply(buffer, momentum, out=buffer)
            xp.add(buffer, update, out=buffer)
            update = xp.multiply(buffer, -lr, out=update)
        else:
            xp.multiply(update, -lr, out=update)
        xp.add(x, update, out=x)
    return update
