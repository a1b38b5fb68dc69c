"""Samplers with PyTorch's names: the order in which ``DataLoader`` visits a map-style data set.

``SequentialSampler``, ``RandomSampler``, ``SubsetRandomSampler`` and ``WeightedRandomSampler`` yield indices;
``BatchSampler`` groups any sampler's indices into lists. A random sampler draws from an ``st.Generator``
(``st.random.default_generator`` when none is given): each ``iter()`` draws the next epoch's order from it, so
one seed fixes every epoch. Orders differ from PyTorch's (another random stream); their laws are the same.
"""
import numpy as np

from .. import random


def generator_stream(generator, who):
    """The CPU stream of ``generator`` (``st.random.default_generator`` if None); anything else is refused."""
    if generator is None:
        generator = random.default_generator
    if not isinstance(generator, random.Generator):
        raise TypeError(f"{who}: generator must be an st.Generator, e.g. st.Generator(seed), got "
                        f"{type(generator).__module__}.{type(generator).__name__}")
    return generator.stream("cpu")


def _count(what, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


class Sampler:
    """The base of samplers: subclasses define ``__iter__`` (the indices) and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__ to yield indices")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of ``data_source``'s indices: a permutation, or ``num_samples`` draws with ``replacement``.

    Args:
        data_source: the data set (only its length is used).
        replacement: draw each index independently instead of permuting.
        num_samples: how many indices an epoch yields (``len(data_source)`` by default); without replacement,
            more than the length chains several permutations, as PyTorch does.
        generator: the ``st.Generator`` to draw from.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be True or False, got {replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = None if num_samples is None else _count("RandomSampler: num_samples", num_samples)

    @property
    def num_samples(self):
        """Indices per epoch."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), generator_stream(self.generator, "RandomSampler")
        if self.replacement:
            order = rng.integers(0, n, self.num_samples)
        else:
            rounds = -(-self.num_samples // n) if n else 0
            order = np.concatenate([rng.permutation(n) for _ in range(rounds)] or [np.zeros(0, np.int64)])
        return iter(order[:self.num_samples].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, drawn anew each epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        order = generator_stream(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        return iter([self.indices[i] for i in order.tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices of ``range(len(weights))``, index ``i`` drawn with probability proportional to
    ``weights[i]``, with or without replacement."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if weights.ndim != 1 or (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a 1-D sequence of non-negative finite numbers "
                             f"with a positive sum, got {weights.tolist()}")
        self.num_samples = _count("WeightedRandomSampler: num_samples", num_samples)
        if not replacement and self.num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} distinct indices without "
                             f"replacement from {np.count_nonzero(weights)} positive weights")
        self.weights, self.replacement, self.generator = weights, replacement, generator

    def __iter__(self):
        order = generator_stream(self.generator, "WeightedRandomSampler").choice(
            len(self.weights), self.num_samples, replace=self.replacement, p=self.weights / self.weights.sum())
        return iter(order.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last list may be shorter unless ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last must be True or False, got {drop_last!r}")
        self.sampler, self.drop_last = sampler, drop_last
        self.batch_size = _count("BatchSampler: batch_size", batch_size)

    def __iter__(self):
        return self._batches(iter(self.sampler))  # the sampler draws its order now, at iter()

    def _batches(self, indices):
        batch = []
        for i in indices:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
