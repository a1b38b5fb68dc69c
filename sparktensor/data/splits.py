"""Data sets made of others: ``Subset``, ``ConcatDataset``, ``ChainDataset`` and ``random_split``."""
import bisect
import math
import warnings

import numpy as np

from .collate import fetch_batch
from .dataset import Dataset, IterableDataset
from .sampler import generator_stream


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        """The samples at a list of ``indices`` (through the data set's own ``__getitems__`` when it has one)."""
        chosen = [self.indices[i] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(chosen) if getitems else [self.dataset[i] for i in chosen]

    def gather(self, indices):
        """The samples at ``indices`` as one default-collated batch (one gather per tensor of a ``TensorDataset``)."""
        return fetch_batch(self.dataset, np.asarray(self.indices)[np.asarray(indices)])

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several map-style data sets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one data set")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset takes map-style data sets, got the IterableDataset "
                                f"{type(d).__name__}; chain streams with ChainDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} is out of range for a ConcatDataset of {len(self)} samples")
            index += len(self)
        if index >= len(self):
            raise IndexError(f"index {index} is out of range for a ConcatDataset of {len(self)} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """The samples of several iterable data sets one stream after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


def _split_sizes(lengths, total):
    """Counts from ``lengths``: counts that add up to ``total``, or fractions that add up to 1."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and not all(isinstance(n, (int, np.integer)) for n in lengths):
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie between 0 and 1, got {lengths}")
        sizes = [int(math.floor(total * f)) for f in lengths]
        for i in range(total - sum(sizes)):  # the remainder, one each, round-robin from the first
            sizes[i % len(sizes)] += 1
        for i, n in enumerate(sizes):
            if n == 0:
                warnings.warn(f"random_split: split {i} of fraction {lengths[i]} is empty for {total} samples")
        return sizes
    if any(isinstance(n, bool) or int(n) != n or n < 0 for n in lengths):
        raise ValueError(f"random_split: lengths must be counts (non-negative integers) or fractions adding up to "
                         f"1, got {lengths}")
    if sum(lengths) != total:
        raise ValueError(f"random_split: the lengths {lengths} add up to {sum(lengths)}, but the data set holds "
                         f"{total} samples; give counts that add up to {total} or fractions that add up to 1")
    return [int(n) for n in lengths]


def random_split(dataset, lengths, generator=None):
    """Non-overlapping ``Subset``s of ``dataset`` of the given sizes, drawn by one random permutation.

    Args:
        dataset: a map-style data set.
        lengths: sizes that add up to ``len(dataset)``, or fractions that add up to 1 (then the sizes are rounded
            down and the samples left over go one each to the first splits, as in PyTorch).
        generator: the ``st.Generator`` to draw the permutation from; ``st.random.default_generator`` if None.
    """
    sizes = _split_sizes(lengths, len(dataset))
    order = generator_stream(generator, "random_split").permutation(len(dataset)).tolist()
    bounds = np.cumsum([0] + sizes).tolist()
    return [Subset(dataset, order[bounds[i]:bounds[i + 1]]) for i in range(len(sizes))]
