"""The communication of model parallelism as four small autograd functions (Megatron-LM's pattern).

Each is a collective in one direction and its adjoint in the other:

* ``copy_to_parallel``: identity forward, all-reduce backward. Every rank's slice of a layer reads the same
  input, so the input's gradient is the sum of what each slice sends back.
* ``reduce_from_parallel``: all-reduce forward, identity backward. Every rank holds a partial sum of the
  output; the sum's gradient reaches each partial unchanged.
* ``gather_from_parallel``: all-gather along an axis forward, own slice backward.
* ``scatter_to_parallel``: own slice forward, all-gather backward.

Pieces along an axis are cut as ``np.array_split`` cuts them, in units of ``unit`` entries (see ``split.py``).
A collective is skipped only where the graph skips the backward, which is the same on every rank.

``start_all_reduce`` runs an all-reduce on a background thread while the caller computes something that does
not depend on it (``linear_ops.py``: a weight gradient, the next rows' product). A communicator is used by
one thread at a time, so a rank has at most one such all-reduce under way, and joins it before its next
collective.
"""
import threading

import numpy as np

from ...autograd.function import Function
from .split import bounds, normalize_axis

_under_way = set()  # ids of the communicators with a background all-reduce not yet joined


def _own_slice(x, axis, rank, world_size, unit):
    """``rank``'s part of ``x`` along ``axis`` (units of ``unit`` entries), as a contiguous copy."""
    size = x.shape[axis]
    if size % unit:
        raise ValueError(f"axis {axis} of size {size} is not made of whole units of {unit} entries")
    start, stop = bounds(size // unit, rank, world_size)
    index = (slice(None),) * axis + (slice(start * unit, stop * unit),)
    return x[index].copy()


class PendingAllReduce:
    """An all-reduce running on a background thread; ``result()`` waits for it and returns the sum."""

    def __init__(self, comm, x):
        self.comm, self._result, self._error = comm, None, None
        if id(comm) in _under_way:
            raise RuntimeError(f"rank {comm.rank}: an all-reduce is already under way on {comm!r}; join it "
                               f"(result()) before starting the next collective")
        _under_way.add(id(comm))
        self._thread = threading.Thread(target=self._run, args=(x,), name="sparktensor-all-reduce", daemon=True)
        self._thread.start()

    def _run(self, x):
        try:
            self._result = self.comm.all_reduce(x)
        except BaseException as e:  # noqa: BLE001 - raised again, on the caller's thread, by result()
            self._error = e

    def result(self):
        """The all-reduced array (the collective's error, if it failed)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            _under_way.discard(id(self.comm))
        if self._error is not None:
            raise self._error
        return self._result


class _Done:
    """An all-reduce that ran at once (nothing to overlap it with, or arrays NumPy cannot hand to a thread)."""

    def __init__(self, result):
        self._result = result

    def result(self):
        return self._result


def start_all_reduce(comm, x):
    """Start the sum of ``x`` over the ranks of ``comm``; ``.result()`` of the returned handle gives it.

    The communicator stays busy until ``result()`` is called: call it before any other collective on ``comm``.
    With one rank, or an array that is not a NumPy array (a GPU array: NCCL or the copy to the host keep to
    the calling thread), the all-reduce runs at once.
    """
    if comm.world_size == 1 or type(x) is not np.ndarray:
        return _Done(comm.all_reduce(x))
    return PendingAllReduce(comm, x)


class CopyToParallel(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return x.view()

    @staticmethod
    def backward(ctx, gy):
        return ctx.comm.all_reduce(gy), None


class ReduceFromParallel(Function):
    @staticmethod
    def forward(ctx, x, comm):
        return comm.all_reduce(x)

    @staticmethod
    def backward(ctx, gy):
        return gy, None


class GatherFromParallel(Function):
    @staticmethod
    def forward(ctx, x, comm, axis, unit):
        axis = normalize_axis(axis, x.ndim, "gather_from_parallel")
        y = comm.all_gather(x, axis=axis)
        start, stop = bounds(y.shape[axis] // unit, comm.rank, comm.world_size)
        if x.shape[axis] != (stop - start) * unit:
            raise ValueError(f"gather_from_parallel: rank {comm.rank} holds {x.shape[axis]} entries along axis "
                             f"{axis}, but cutting the gathered {y.shape[axis]} as np.array_split does over "
                             f"{comm.world_size} ranks gives it {(stop - start) * unit}")
        ctx.comm, ctx.axis, ctx.unit = comm, axis, unit
        return y

    @staticmethod
    def backward(ctx, gy):
        return _own_slice(gy, ctx.axis, ctx.comm.rank, ctx.comm.world_size, ctx.unit), None, None, None


class ScatterToParallel(Function):
    @staticmethod
    def forward(ctx, x, comm, axis, unit):
        axis = normalize_axis(axis, x.ndim, "scatter_to_parallel")
        ctx.comm, ctx.axis = comm, axis
        return _own_slice(x, axis, comm.rank, comm.world_size, unit)

    @staticmethod
    def backward(ctx, gy):
        return ctx.comm.all_gather(gy, axis=ctx.axis), None, None, None


def copy_to_parallel(x, comm):
    """``x`` unchanged; in backward, the gradient is summed over the ranks of ``comm``."""
    return CopyToParallel.apply(x, comm)


def reduce_from_parallel(x, comm):
    """The sum of ``x`` over the ranks of ``comm``; in backward, the gradient passes unchanged."""
    return ReduceFromParallel.apply(x, comm)


def gather_from_parallel(x, comm, axis=-1, unit=1):
    """The ranks' pieces of ``x`` joined along ``axis`` in rank order; in backward, this rank's slice."""
    return GatherFromParallel.apply(x, comm, axis, unit)


def scatter_to_parallel(x, comm, axis=-1, unit=1):
    """This rank's slice of ``x`` along ``axis``; in backward, the ranks' gradients joined in rank order."""
    return ScatterToParallel.apply(x, comm, axis, unit)
