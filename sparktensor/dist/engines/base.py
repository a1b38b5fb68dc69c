"""``Engine``: what the trainers need from a cluster, kept small so that Spark, Dask and one process all fit.

* ``place(blocks)``: ship the data's partitions to the workers once; they stay there for many jobs.
* ``broadcast(value)``: ship one value (a flat weight buffer) to every worker for the next job.
* ``map_reduce(placed, fn, args, combine)``: run ``fn(index, block, *args)`` on every partition and combine
  the results in a tree whose shape depends only on the number of partitions (so float sums are the same
  from run to run, whatever order the results arrive in).
* ``ship(obj)``: send a model, optimizer and loss once per training job; workers rebuild it once and cache it.
* ``run_gang(fn, world_size, *args)``: start ``world_size`` ranks at once that can reach each other, each
  running ``fn(comm, *args)`` with a ``comm.Communicator``, for model parallelism (see ``gang.py``).

Functions given to ``map_reduce`` are module-level functions over plain values: no ``self``, no SparkContext.
"""
import math


class Engine:
    """The interface trainers are written against; see ``LocalEngine`` and ``SparkEngine``."""

    #: the number of workers a trainer uses when it is not told
    workers = 1

    def place(self, blocks):
        """Ship ``Blocks`` to the workers; returns a handle for ``map_reduce`` and ``release``."""
        raise NotImplementedError

    def release(self, placed):
        """Forget placed data."""
        raise NotImplementedError

    def broadcast(self, value):
        """A handle whose ``.value`` is ``value`` on every worker."""
        raise NotImplementedError

    def unbroadcast(self, handle):
        """Free a broadcast value."""
        raise NotImplementedError

    def ship(self, obj):
        """A handle from which workers rebuild ``obj`` (once per job, see ``worker.replica``)."""
        raise NotImplementedError

    def forget(self, job_id):
        """Drop what workers cached for a finished job, where the engine can reach them."""

    def map_reduce(self, placed, fn, args, combine):
        """``fn(index, block, *args)`` on every partition, folded with ``combine`` in a fixed tree."""
        raise NotImplementedError

    def describe(self, text):
        """Label the next jobs (Spark shows it in its UI); None removes the label."""

    def run_gang(self, fn, world_size, *args, timeout=60.0):
        """``fn(comm, *args)`` on ``world_size`` ranks started together; their results in rank order.

        ``comm`` is each rank's ``Communicator`` over the whole gang; a blocking call waits at most
        ``timeout`` seconds for a peer. When a rank fails, the others are released and the failure is
        raised here, naming the rank.
        """
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Value:
    """A broadcast or shipped value that needs no transport (``.value`` as Spark's broadcasts have it)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def tree_shape(n, depth=2):
    """The group sizes of each level of Spark's ``treeAggregate`` for ``n`` partitions (empty: one level)."""
    scale = max(math.ceil(n ** (1.0 / depth)), 2)
    levels = []
    while n > scale + math.ceil(n / scale):
        levels.append(scale)
        n = math.ceil(n / scale)
    return levels


def fold(items, combine):
    """Combine ``(index, value)`` items in index order: ``combine(combine(v0, v1), v2)...``."""
    items = sorted(items, key=lambda item: item[0])
    result = items[0][1]
    for _, value in items[1:]:
        result = combine(result, value)
    return result


def tree_fold(items, combine, depth=2):
    """Fold ``(index, value)`` items level by level in groups of consecutive indices, as ``SparkEngine`` does."""
    for scale in tree_shape(len(items), depth):
        groups = {}
        for index, value in items:
            groups.setdefault(index // scale, []).append((index, value))
        items = [(key, fold(group, combine)) for key, group in groups.items()]
    return fold(items, combine)
