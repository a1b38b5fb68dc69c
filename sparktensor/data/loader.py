"""``DataLoader``: batches from a data set, in order or reproducibly shuffled."""
import numpy as np

from .. import backend, random
from ..creation import as_tensor
from ..tensor import Tensor


class DataLoader:
    """Iterate over ``dataset`` in batches of tuples of tensors.

    Args:
        dataset: a ``TensorDataset`` (batches are gathered in one indexing operation per tensor, on the
            tensor's own device) or any object with ``__len__`` and ``__getitem__`` (samples are stacked).
        batch_size: samples per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: draw a new order every epoch. Epoch ``k`` uses the ``k``-th permutation drawn from the
            generator, so a seed fixes the whole sequence of epochs.
        drop_last: skip the last batch when it has fewer than ``batch_size`` samples.
        seed: start a private ``st.Generator`` from this seed (at most one of ``seed`` and ``generator``).
        generator: the ``st.Generator`` to draw orders from; ``st.random.default_generator`` when neither is given.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, generator=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass either seed= or generator=, not both")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = random.Generator(seed) if seed is not None else generator

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return (self.generator or random.default_generator).stream("cpu").permutation(n)

    def __iter__(self):
        order = self._order()  # drawn now, so every call to iter() is one epoch of the stream
        return self._batches(order)

    def _batches(self, order):
        gather = getattr(self.dataset, "gather", None) or self._stack_samples
        for b in range(len(self)):
            yield gather(order[b * self.batch_size:(b + 1) * self.batch_size])

    def _stack_samples(self, indices):
        """The batch of a generic data set: each field of the samples stacked on its own array module."""
        samples = [self.dataset[int(i)] for i in indices]
        if not isinstance(samples[0], tuple):
            return _stack([samples])[0]
        if any(len(s) != len(samples[0]) for s in samples):
            raise ValueError(f"DataLoader: samples of {type(self.dataset).__name__} have different numbers of "
                             f"fields ({sorted({len(s) for s in samples})}); return tuples of one length")
        return _stack(list(zip(*samples)))


def _stack(fields):
    batch = []
    for values in fields:
        arrays = [v.data if isinstance(v, Tensor) else as_tensor(v).data for v in values]
        batch.append(Tensor(backend.get_array_module(*arrays).stack(arrays)))
    return tuple(batch)
