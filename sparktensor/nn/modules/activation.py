"""Activation layers: thin wrappers over ``nn.functional``."""
from ..functional import activation as A, softmaxes as Sm
from .module import Module


class ReLU(Module):
    """``max(x, 0)``; ``inplace=True`` overwrites the input, as PyTorch's."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return A.relu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` if positive else ``negative_slope * x``."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return A.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """Gaussian error linear unit (``approximate="tanh"`` for the tanh formula)."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return A.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class ELU(Module):
    """``x`` if positive else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return A.elu(x, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return A.tanh(x)


class Sigmoid(Module):
    """Logistic function."""

    def forward(self, x):
        return A.sigmoid(x)


class Softmax(Module):
    """Softmax along ``dim`` (``None``: PyTorch's deprecated choice by the input's rank, with a warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return Sm.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim``."""

    def forward(self, x):
        return Sm.log_softmax(x, self.dim)


class Softmin(Softmax):
    """Softmax of ``-x`` along ``dim``."""

    def forward(self, x):
        return Sm.softmin(x, self.dim)
