"""``Adagrad``: per-coordinate learning rates from the sum of squared gradients."""
from ..backend import get_array_module
from ..parallel import update_in_chunks
from ..tensor import Tensor
from .optimizer import Optimizer, advance, check_non_negative, direction_, step_counter


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), with PyTorch's update.

    ``s += g * g``; ``p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)``, ``s`` starting at
    ``initial_accumulator_value``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        check_non_negative(lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))
        # PyTorch creates the state of every parameter up front, so state dicts list them all from the start
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        xp = get_array_module(p.data)
        state = self.state[p]
        state["step"] = step_counter()
        state["sum"] = Tensor(xp.full_like(p.data, group["initial_accumulator_value"]))

    def _step_group(self, group, params):
        items = []
        for p in params:
            state = self.state[p]
            if not state:
                self._init_state(p, group)
            step = advance(state["step"])
            items.append(((p.data, p.grad.data, state["sum"].data), (step,)))
        update_in_chunks(_adagrad_update(group), items, scratch=2)


def _adagrad_update(group):
    """The in-place update of pieces of weight ``x``, gradient ``g`` and sum of squares ``s`` at step ``step``, in
    PyTorch's order of operations."""
    lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
    weight_decay, maximize = group["weight_decay"], group["maximize"]

    def update(x, g, s, tmp, d_tmp, step):
        xp = get_array_module(x)
        g = direction_(xp, g, x, weight_decay, maximize, d_tmp)
        clr = lr / (1 + (step - 1) * lr_decay)
        xp.multiply(g, g, out=tmp)
        xp.add(s, tmp, out=s)
        denominator = xp.sqrt(s, out=tmp)
        xp.add(denominator, eps, out=denominator)
        update = xp.divide(g, denominator, out=denominator)
        xp.multiply(update, -clr, out=update)
        xp.add(x, update, out=x)
    return update
