"""``TensorDataset``: samples are the rows of equally long tensors."""
import numpy as np

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor


class TensorDataset:
    """Sample ``i`` is ``(t[i] for t in tensors)``; all tensors share their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor, e.g. TensorDataset(x, y)")
        self.tensors = tuple(as_tensor(t) for t in tensors)
        shapes = [t.shape for t in self.tensors]
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension (the number of samples), "
                             f"got shapes {', '.join(str(s) for s in shapes)}")

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(Tensor(t.data[index]) for t in self.tensors)

    def gather(self, indices):
        """The samples at ``indices`` (an integer NumPy array) as one batch: a tuple of tensors."""
        batch = []
        for t in self.tensors:
            # move the (small) index array to the tensor's device, not the tensor to the CPU
            xp = backend.get_array_module(t.data)
            batch.append(Tensor(t.data[indices if xp is np else xp.asarray(indices)]))
        return tuple(batch)
