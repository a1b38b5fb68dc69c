"""``Dropout`` and ``Dropout2d``."""
from ..functional.dropout import dropout, dropout1d, dropout2d
from .module import Module


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode and scale the rest by ``1 / (1 - p)``.

    Args:
        p: probability of zeroing an element.

    Shape:
        any; the output has the input's shape.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be between 0 and 1, got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zero whole channels with probability ``p`` in training mode and scale the rest by ``1 / (1 - p)``.

    Args:
        p: probability of zeroing a channel.
        inplace: overwrite the input.

    Shape:
        input (N, C, L) or (C, L); output the same.
    """

    def forward(self, x):
        return dropout1d(x, self.p, self.training, self.inplace)


class Dropout2d(Dropout):
    """Zero whole channels with probability ``p`` in training mode and scale the rest by ``1 / (1 - p)``.

    Args:
        p: probability of zeroing a channel.
        inplace: overwrite the input.

    Shape:
        input (N, C, H, W); output the same. A 3-D input is (N, C, L), as PyTorch reads it (with a warning).
    """

    def forward(self, x):
        return dropout2d(x, self.p, self.training, self.inplace)
