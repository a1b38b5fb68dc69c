"""``Dropout``."""
from ..functional.dropout import dropout
from .module import Module


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode and scale the rest by ``1 / (1 - p)``.

    Args:
        p: probability of zeroing an element.

    Shape:
        any; the output has the input's shape.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be between 0 and 1, got {p}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
