"""The communication of model parallelism as four small autograd functions (Megatron-LM's pattern).

Each is a collective in one direction and its adjoint in the other:

* ``copy_to_parallel``: identity forward, all-reduce backward. Every rank's slice of a layer reads the same
  input, so the input's gradient is the sum of what each slice sends back.
* ``reduce_from_parallel``: all-reduce forward, identity backward. Every rank holds a partial sum of the
  output; the sum's gradient reaches each partial unchanged.
* ``gather_from_parallel``: all-gather along an axis forward, own slice backward.
* ``scatter_to_parallel``: own slice forward, all-gather backward.
* ``gather_rows``: all-gather along an axis forward, reduce-scatter backward; ``reduce_scatter_rows`` the
  reverse. Megatron-LM's sequence parallelism: between a row-parallel layer and the next column-parallel one,
  each rank holds its own rows (tokens) whole, instead of every rank holding all of them; the same bytes as
  one all-reduce, in two halves.
* ``sum_gradients``: identity forward on several tensors, their gradients all-reduced (in one message)
  backward: for replicated parameters that each rank applies to its own rows only.

Pieces along an axis are cut as ``np.array_split`` cuts them, in units of ``unit`` entries (see ``split.py``).
A collective is skipped only where the graph skips the backward, which is the same on every rank.

``linear_ops.py`` fuses some of these with the products next to them, to overlap the two.
"""
import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from .split import bounds, normalize_axis


def _own_slice(x, axis, rank, world_size, unit):
    """``rank``'s part of ``x`` along ``axis`` (units of ``unit`` entries), as a contiguous copy."""
    size = x.shape[axis]
    if size % unit:
        raise ValueError(f"axis {axis} of size {size} is not made of whole units of {unit} entries")
    start, stop = bounds(size // unit, rank, world_size)
    index = (slice(None),) * axis + (slice(start * unit, stop * unit),)
    return x[index].copy()


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


class GatherRows(Function):
    once_differentiable = True  # the collectives take arrays

    @staticmethod
    def forward(ctx, x, comm, axis):
        ctx.comm, ctx.axis = comm, axis
        return comm.all_gather(x, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        return ctx.comm.reduce_scatter(gy, axis=ctx.axis), None, None


class ReduceScatterRows(Function):
    once_differentiable = True  # the collectives take arrays

    @staticmethod
    def forward(ctx, x, comm, axis):
        ctx.comm, ctx.axis = comm, axis
        return comm.reduce_scatter(x, axis=axis)

    @staticmethod
    def backward(ctx, gy):
        return ctx.comm.all_gather(gy, axis=ctx.axis), None, None


class SumGradients(Function):
    once_differentiable = True  # the collectives take arrays

    @staticmethod
    def forward(ctx, comm, *xs):
        ctx.comm, ctx.sizes = comm, [x.size for x in xs]
        return tuple(x.view() for x in xs)

    @staticmethod
    def backward(ctx, *grads):
        xp = get_array_module(grads[0])
        total = ctx.comm.all_reduce(xp.concatenate([g.reshape(-1) for g in grads]))
        cuts = np.cumsum(ctx.sizes)[:-1]
        return (None,) + tuple(piece.reshape(g.shape) for piece, g in zip(xp.split(total, cuts), grads))


def copy_to_parallel(x, comm):
    """``x`` unchanged; in backward, the gradient is summed over the ranks of ``comm``."""
    return CopyToParallel.apply(x, comm)


def reduce_from_parallel(x, comm):
    """The sum of ``x`` over the ranks of ``comm``; in backward, the gradient passes unchanged."""
    return ReduceFromParallel.apply(x, comm)


def gather_rows(x, comm, axis=0):
    """The ranks' rows of ``x`` (pieces along ``axis``) joined in rank order; in backward, the gradient summed
    over the ranks and cut back into their pieces (a reduce-scatter)."""
    return GatherRows.apply(x, comm, normalize_axis(axis, x.ndim, "gather_rows"))


def reduce_scatter_rows(x, comm, axis=0):
    """This rank's piece along ``axis`` (``np.array_split``'s cut) of the sum of ``x`` over the ranks; in
    backward, the pieces' gradients joined in rank order (an all-gather)."""
    return ReduceScatterRows.apply(x, comm, normalize_axis(axis, x.ndim, "reduce_scatter_rows"))


def sum_gradients(comm, *xs):
    """``xs`` unchanged; in backward, each one's gradient summed over the ranks of ``comm`` (one all-reduce)."""
    return SumGradients.apply(comm, *xs)


def gather_from_parallel(x, comm, axis=-1, unit=1):
    """The ranks' pieces of ``x`` joined along ``axis`` in rank order; in backward, this rank's slice."""
    return GatherFromParallel.apply(x, comm, axis, unit)


def scatter_to_parallel(x, comm, axis=-1, unit=1):
    """This rank's slice of ``x`` along ``axis``; in backward, the ranks' gradients joined in rank order."""
    return ScatterToParallel.apply(x, comm, axis, unit)
