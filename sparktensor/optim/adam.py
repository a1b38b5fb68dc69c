"""``Adam`` and ``AdamW``: adaptive moment estimation, with L2 or decoupled weight decay."""
from ..backend import get_array_module
from ..parallel import update_in_chunks
from ..tensor import Tensor
from .optimizer import Optimizer, addcmul_, advance, check_non_negative, direction_, lerp_, step_counter


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's update; ``amsgrad`` normalizes by the running maximum of ``v``.

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``. Weight decay adds ``wd * p`` to
    ``g``, or with ``decoupled_weight_decay`` (AdamW) scales ``p`` by ``1 - lr * wd`` first.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        check_non_negative(eps=eps, weight_decay=weight_decay)
        for i, beta in enumerate(betas):
            if not 0 <= beta < 1:
                raise ValueError(f"invalid beta parameter at index {i}: {beta!r}, it must be in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _step_group(self, group, params):
        items = []
        for p in params:
            x = p.data
            xp = get_array_module(x)
            state = self.state[p]
            if not state:
                state["step"] = step_counter()
                state["exp_avg"] = Tensor(xp.zeros_like(x))
                state["exp_avg_sq"] = Tensor(xp.zeros_like(x))
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = Tensor(xp.zeros_like(x))
            step = advance(state["step"])
            arrays = (x, p.grad.data, state["exp_avg"].data, state["exp_avg_sq"].data)
            if group["amsgrad"]:
                arrays += (state["max_exp_avg_sq"].data,)
            items.append((arrays, (step,)))
        update_in_chunks(_adam_update(group), items, scratch=2)


def _adam_update(group):
    """The in-place update of pieces of weight ``x``, gradient ``g``, moments ``m`` and ``v`` (and the running
    maximum of ``v`` with amsgrad) at step ``step``, in PyTorch's order of operations."""
    lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]

    def update(x, g, m, v, *rest):
        *v_max, tmp, d_tmp, step = rest
        xp = get_array_module(x)
        if weight_decay != 0 and decoupled:
            xp.multiply(x, 1 - lr * weight_decay, out=x)
            g = direction_(xp, g, x, 0, maximize, d_tmp)
        else:
            g = direction_(xp, g, x, weight_decay, maximize, d_tmp)
        lerp_(xp, m, g, 1 - beta1, tmp)
        xp.multiply(v, beta2, out=v)
        addcmul_(xp, v, g, g, 1 - beta2, tmp)
        if v_max:
            v = xp.maximum(v_max[0], v, out=v_max[0])
        step_size = lr / (1 - beta1 ** step)
        denominator = xp.sqrt(v, out=tmp)
        xp.divide(denominator, (1 - beta2 ** step) ** 0.5, out=denominator)
        xp.add(denominator, eps, out=denominator)
        update = xp.divide(m, denominator, out=denominator)
        xp.multiply(update, -step_size, out=update)
        xp.add(x, update, out=x)
    return update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * wd`` before the Adam update."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
