"""``DataLoader``: batches from a data set, with PyTorch's arguments and rules.

A map-style data set is visited in the order of a sampler (``SequentialSampler``, or ``RandomSampler`` with
``shuffle=True``) grouped by a ``BatchSampler`` (``batch_size``, ``drop_last``), or of a ``batch_sampler`` given
whole; each group of samples goes through ``collate_fn`` (``default_collate``). A ``TensorDataset`` (or a
``Subset`` of one) with the default collate skips the per-sample path: one indexing operation per tensor, on the
tensor's own device. An ``IterableDataset`` is read in order, ``batch_size`` samples a batch. ``batch_size=None``
turns batching off: each sample goes through ``collate_fn`` (``default_convert``) alone. ``num_workers > 0`` makes
the batches in worker processes (``workers.py``).
"""
import functools
import itertools

import numpy as np

from .. import random
from .collate import default_collate, default_convert, fetch_batch
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, generator_stream
from .workers import WorkerPool, batches_from_workers


def _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, drop_last, timeout,
                     prefetch_factor, persistent_workers, seed, generator):
    """PyTorch's checks of the DataLoader's arguments, with messages that say what to change."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
    if seed is not None and generator is not None:
        raise ValueError("DataLoader: pass either seed= or generator=, not both")
    if generator is not None:
        generator_stream(generator, "DataLoader")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers must be a non-negative integer (0 loads in the main process), "
                         f"got {num_workers!r}")
    if timeout < 0:
        raise ValueError(f"DataLoader: timeout must be non-negative, got {timeout}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor needs worker processes; set num_workers > 0 or leave it out")
    if num_workers == 0 and persistent_workers:
        raise ValueError("DataLoader: persistent_workers needs worker processes; set num_workers > 0")
    if isinstance(dataset, IterableDataset):
        for name, value in (("shuffle", shuffle if shuffle else None), ("sampler", sampler),
                            ("batch_sampler", batch_sampler)):
            if value is not None:
                raise ValueError(f"DataLoader: an IterableDataset is read in its own order, so {name}= does not "
                                 f"apply (got {name}={value!r}); shuffle inside the data set's __iter__")
        return
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler= is mutually exclusive with shuffle=True (the sampler sets the order)")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ValueError("DataLoader: batch_sampler= is mutually exclusive with batch_size, shuffle, sampler and "
                         "drop_last (it makes the batches itself)")
    if batch_size is None and drop_last:
        raise ValueError("DataLoader: batch_size=None turns batching off, so drop_last=True does not apply")


class DataLoader:
    """Iterate over ``dataset`` in batches, as PyTorch's ``DataLoader`` does.

    Args:
        dataset: a map-style data set (``__getitem__``, ``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch, or None to yield samples one by one without batching.
        shuffle: visit a map-style data set in a new random order every epoch (a ``RandomSampler``). Epoch ``k``
            uses the ``k``-th permutation drawn from the generator, so a seed fixes the whole sequence of epochs.
        sampler: the order of indices (mutually exclusive with ``shuffle``).
        batch_sampler: yields whole lists of indices (mutually exclusive with ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``).
        num_workers: worker processes that make the batches; 0 makes them in the main process.
        collate_fn: turns a list of samples into a batch (``default_collate``; ``default_convert`` when
            ``batch_size`` is None).
        pin_memory: accepted for PyTorch code; batches stay on the data set's device (there is no pinned memory).
        drop_last: skip the last batch when it has fewer than ``batch_size`` samples.
        timeout: seconds to wait for a batch from the workers before raising (0: no limit).
        worker_init_fn: called with the worker id in each worker process, after it is seeded.
        multiprocessing_context: the start method of the workers (``"fork"``, ``"spawn"``, ``"forkserver"``).
        generator: the ``st.Generator`` that shuffles and seeds the workers; ``st.random.default_generator``
            when neither it nor ``seed`` is given.
        prefetch_factor: batches each worker makes ahead (2 by default; only with workers).
        persistent_workers: keep the worker processes between epochs (they are not seeded again).
        seed: start a private ``st.Generator`` from this seed (at most one of ``seed`` and ``generator``).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 seed=None):
        _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, drop_last, timeout,
                         prefetch_factor, persistent_workers, seed, generator)
        self.dataset = dataset
        self.num_workers, self.timeout, self.worker_init_fn = int(num_workers), timeout, worker_init_fn
        self.multiprocessing_context, self.prefetch_factor = multiprocessing_context, prefetch_factor
        self.pin_memory, self.persistent_workers = pin_memory, persistent_workers
        self._pool = None
        self.generator = random.Generator(seed) if seed is not None else generator
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        elif batch_size is not None and not isinstance(dataset, IterableDataset):
            sampler = sampler if sampler is not None else (
                RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset))
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        elif sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last, self.shuffle = bool(drop_last), bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        batching = self.batch_sampler is not None or (isinstance(dataset, IterableDataset) and batch_size is not None)
        self.collate_fn = collate_fn or (default_collate if batching else default_convert)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # a TypeError for a stream without a length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self):
        """One epoch; the order (and the workers' seeds) are drawn now, at ``iter()``."""
        if isinstance(self.dataset, IterableDataset):
            make_batch = functools.partial(_stream_batch, self.collate_fn, self.batch_size, self.drop_last)
            if self.num_workers:
                return batches_from_workers(self, None, make_batch, self._persistent_pool(make_batch))
            return _batches_of_stream(make_batch, iter(self.dataset))
        jobs = iter(self.batch_sampler if self._auto_collation else self.sampler)
        make_batch = functools.partial(_map_batch, self.dataset, self.collate_fn, self._auto_collation)
        if self.num_workers:
            return batches_from_workers(self, jobs, make_batch, self._persistent_pool(make_batch))
        return map(make_batch, jobs)

    def _persistent_pool(self, make_batch):
        """With ``persistent_workers``, the running workers (started at the first epoch); else None."""
        if not self.persistent_workers:
            return None
        if self._pool is None or not self._pool.alive():
            self._pool = WorkerPool(self, make_batch)
        return self._pool

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = None  # processes do not travel
        return state

    def __del__(self):
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.close()


def _map_batch(dataset, collate_fn, batched, indices):
    """The batch at a list of indices, or with batching off the converted sample at one index."""
    if batched:
        return fetch_batch(dataset, indices, collate_fn)
    return collate_fn(dataset[indices])


def _stream_batch(collate_fn, batch_size, drop_last, stream):
    """The next batch of an iterable data set's stream; StopIteration when it has none."""
    if batch_size is None:
        return collate_fn(next(stream))
    samples = list(itertools.islice(stream, batch_size))
    if not samples or (drop_last and len(samples) < batch_size):
        raise StopIteration
    return collate_fn(samples)


def _batches_of_stream(make_batch, stream):
    while True:
        try:
            batch = make_batch(stream)
        except StopIteration:
            return
        yield batch
