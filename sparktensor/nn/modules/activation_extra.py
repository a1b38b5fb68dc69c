"""``SiLU``, ``Mish``, ``Hardswish`` and ``PReLU``."""
from ... import creation
from ..functional import activation_extra as A
from ..parameter import Parameter
from .module import Module


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def forward(self, x):
        return A.silu(x)


class Mish(Module):
    """``x * tanh(softplus(x))``."""

    def forward(self, x):
        return A.mish(x)


class Hardswish(Module):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, x):
        return A.hardswish(x)


class PReLU(Module):
    """``x`` where positive, a learned ``weight * x`` elsewhere.

    Args:
        num_parameters: 1 (one slope for all) or the number of channels (axis 1 of the input).
        init: the initial slope.

    Shape:
        input (*), channels in axis 1 when ``num_parameters > 1``; output the same.
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(creation.full((num_parameters,), init, dtype=dtype, device=device))

    def forward(self, x):
        return A.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
