"""``Parameter``: a tensor that a ``Module`` registers as one of its weights."""
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered when assigned to a ``Module`` attribute."""

    __slots__ = ()
    __hash__ = object.__hash__  # by identity, as PyTorch's: modules and optimizers key their tables by parameter

    def __init__(self, data, requires_grad=True):
        data = data.data if isinstance(data, Tensor) else data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
