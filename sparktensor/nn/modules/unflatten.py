"""``Unflatten``."""
from .module import Module


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (the inverse of ``Flatten``).

    Args:
        dim: the axis to split.
        unflattened_size: the shape it becomes (one entry may be -1).

    Shape:
        input (*, S, *) with S = prod(unflattened_size) at ``dim``; output (*, *unflattened_size, *).
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim if -x.ndim <= self.dim < x.ndim else None
        if dim is None:
            raise IndexError(f"{self!r}: dim {self.dim} is out of range for input of shape {tuple(x.shape)}")
        try:
            return x.reshape(tuple(x.shape[:dim]) + self.unflattened_size + tuple(x.shape[dim + 1:]))
        except ValueError:
            raise ValueError(f"{self!r}: axis {self.dim} of size {x.shape[dim]} cannot be split into "
                             f"{self.unflattened_size}") from None

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
