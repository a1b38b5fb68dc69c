"""Data sets with PyTorch's protocol: ``Dataset`` (map-style), ``IterableDataset`` (a stream) and ``TensorDataset``.

A map-style data set answers ``dataset[i]`` (and usually ``len``); an iterable one yields its samples from
``iter(dataset)``. ``DataLoader`` takes either; ``Subset``, ``ConcatDataset``, ``ChainDataset`` and
``random_split`` (in ``splits.py``) combine them.
"""
import numpy as np

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor


class Dataset:
    """A map-style data set: subclasses define ``__getitem__`` (sample ``i``) and usually ``__len__``.

    ``a + b`` is their ``ConcatDataset``.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ to return sample `index`")

    def __add__(self, other):
        from .splits import ConcatDataset
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A data set read as a stream: subclasses define ``__iter__``.

    With ``num_workers > 0`` every worker process iterates its own copy; split the stream between them with
    ``get_worker_info()`` (``id`` and ``num_workers``), or each worker yields every sample. ``a + b`` is their
    ``ChainDataset``.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__ to yield its samples")

    def __add__(self, other):
        from .splits import ChainDataset
        return ChainDataset([self, other])


class TensorDataset(Dataset):
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
