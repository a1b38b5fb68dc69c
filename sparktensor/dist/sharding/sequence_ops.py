"""The products at the edges of a sequence-parallel stretch, with their collectives overlapped with compute.

The activations are split by rows along their first axis (``np.array_split``'s cut over the ranks):

* ``gathered_linear(x, weight, bias, comm, length)``: ``gather_rows(x) @ weight.T + bias``, a column-parallel
  product of the rows of every rank. While the other ranks' rows arrive, this rank multiplies its own; in
  backward, the reduce-scatter of the input's gradient runs while the weight's gradient is computed.
* ``scattered_linear(x, weight, comm)``: ``reduce_scatter_rows(x @ weight.T)``, a row-parallel product summed
  into each rank's rows. The rows go in blocks (when the ranks' pieces are equal): while one block is
  reduce-scattered, the next is multiplied; in backward, while the gradient's rows are all-gathered, the
  gradients of this rank's own rows are computed.

Same values and bytes as ``gather_rows``/``reduce_scatter_rows`` beside ``linear``; not differentiable twice.
"""
import math

from ...amp.autocast_mode import lower_precision
from ...autograd.function import Function
from ...backend import get_array_module
from ...nn.functional.linear import check_dtypes
from .background import start_collective
from .split import bounds

# About the bytes of one block of a scattered product's output reduce-scattered at a time. A message costs some
# 0.3 ms of CPU beside its bytes (frames, thread wake-ups), which a rank whose cores all compute pays out of its
# compute: with 1 MiB blocks the two-layer encoder of bench/test_transformer.py at M = 2, one core a rank, took
# 1.07x (1.04-1.11) as long a step as with none, so only outputs of several blocks this size are cut.
BLOCK_BYTES = 8 << 20
MAX_BLOCKS = 4


def _flat(x):
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _rows(length, rank, world_size, inner):
    """The flattened rows of ``rank``'s piece of ``length`` units of ``inner`` rows each."""
    start, stop = bounds(length, rank, world_size)
    return slice(start * inner, stop * inner)


class GatheredLinearFunction(Function):
    once_differentiable = True

    @staticmethod
    def forward(ctx, x, weight, bias, comm, length):
        xp = get_array_module(x)
        inner = math.prod(x.shape[1:-1])
        pending = start_collective(comm, "all_gather", x, axis=0)
        y = xp.empty((length * inner, weight.shape[0]), dtype=x.dtype)
        try:
            xp.matmul(_flat(x), weight.T, out=y[_rows(length, comm.rank, comm.world_size, inner)])
        finally:
            whole = pending.result()
        flat = _flat(whole)
        for peer in range(comm.world_size):
            if peer != comm.rank:
                rows = _rows(length, peer, comm.world_size, inner)
                xp.matmul(flat[rows], weight.T, out=y[rows])
        if bias is not None:
            y += bias
        ctx.comm, ctx.whole = comm, whole
        ctx.save_for_backward(weight)
        return y.reshape(whole.shape[:-1] + y.shape[-1:])

    @staticmethod
    def backward(ctx, gy):
        (weight,) = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gy2, whole = _flat(gy), ctx.whole
        pending = start_collective(ctx.comm, "reduce_scatter", (gy2 @ weight).reshape(whole.shape),
                                   axis=0) if need_x else None
        try:
            gw = gy2.swapaxes(0, 1) @ _flat(whole) if need_w else None
            gb = gy2.sum(axis=0) if need_b else None
        finally:
            gx = pending.result() if pending is not None else None
        return gx, gw, gb, None, None


class ScatteredLinearFunction(Function):
    once_differentiable = True

    @staticmethod
    def forward(ctx, x, weight, comm):
        xp = get_array_module(x)
        ctx.comm = comm
        ctx.save_for_backward(x, weight)
        length, inner, m = x.shape[0], math.prod(x.shape[1:-1]), comm.world_size
        flat, out = _flat(x), weight.shape[0]
        blocks = _blocks(length, inner * out * x.itemsize, m)
        if blocks == 1:
            total = (flat @ weight.T).reshape(x.shape[:-1] + (out,))
            return comm.reduce_scatter(total, axis=0)
        piece = length // m * inner  # rows of each rank's piece
        sub = piece // blocks  # rows of each piece in one block
        y = xp.empty((piece, out), dtype=x.dtype)
        pending, done = None, None
        try:
            for b in range(blocks):
                block = xp.empty((m * sub, out), dtype=x.dtype)  # block b of every rank's piece, in rank order
                for peer in range(m):
                    start = peer * piece + b * sub
                    xp.matmul(flat[start:start + sub], weight.T, out=block[peer * sub:(peer + 1) * sub])
                if pending is not None:
                    y[done] = pending.result()
                pending, done = start_collective(comm, "reduce_scatter", block, axis=0), slice(b * sub, (b + 1) * sub)
        finally:  # joined even when a product failed: the communicator is free again
            last = pending.result() if pending is not None else None
        y[done] = last
        return y.reshape((length // m,) + x.shape[1:-1] + (out,))

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        comm, xp = ctx.comm, get_array_module(gy)
        length, inner = x.shape[0], math.prod(x.shape[1:-1])
        own = _rows(length, comm.rank, comm.world_size, inner)
        flat_x = _flat(x)
        gx = xp.empty(flat_x.shape, dtype=gy.dtype) if need_x else None
        pending = start_collective(comm, "all_gather", gy, axis=0)
        try:  # this rank's rows while the others' arrive
            gy_own = _flat(gy)
            if need_x:
                xp.matmul(gy_own, weight, out=gx[own])
            gw = gy_own.swapaxes(0, 1) @ flat_x[own] if need_w else None
        finally:
            whole = _flat(pending.result())
        for peer in range(comm.world_size):
            rows = _rows(length, peer, comm.world_size, inner)
            if peer != comm.rank:
                if need_x:
                    xp.matmul(whole[rows], weight, out=gx[rows])
                if need_w:
                    gw += whole[rows].swapaxes(0, 1) @ flat_x[rows]
        return (None if gx is None else gx.reshape(x.shape)), gw, None


def _blocks(length, unit_bytes, world_size):
    """How many blocks a scattered product goes in: 1 unless every rank's piece is equal and splits evenly."""
    if world_size == 1 or length % world_size:
        return 1
    piece = length // world_size
    for blocks in range(MAX_BLOCKS, 1, -1):
        if piece % blocks == 0 and world_size * piece // blocks * unit_bytes >= BLOCK_BYTES:
            return blocks
    return 1


@lower_precision
def gathered_linear(x, weight, bias, comm, length):
    """``gather_rows(x, comm) @ weight.T + bias`` (``x``: this rank's piece of ``length`` units along axis 0);
    the gathering overlaps the product of this rank's rows, its backward's reduce-scatter the weight gradient."""
    _check(x, weight, bias, "gathered_linear")
    start, stop = bounds(length, comm.rank, comm.world_size)
    if x.shape[0] != stop - start:
        raise ValueError(f"gathered_linear: rank {comm.rank} holds {x.shape[0]} rows along axis 0, but its piece of "
                         f"{length} over {comm.world_size} ranks (np.array_split) has {stop - start}")
    return GatheredLinearFunction.apply(x, weight, bias, comm, int(length))


@lower_precision
def scattered_linear(x, weight, comm):
    """``reduce_scatter_rows(x @ weight.T, comm)`` along axis 0, the reduce-scatter of one block of rows
    overlapping the product of the next."""
    _check(x, weight, None, "scattered_linear")
    return ScatteredLinearFunction.apply(x, weight, comm)


def _check(x, weight, bias, op):
    if x.ndim < 2 or x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"{op}: expected an input (rows, ..., {weight.shape[1]}) for the weight "
                         f"{tuple(weight.shape)}, got shape {tuple(x.shape)}")
    check_dtypes(op, x, weight=weight, bias=bias)
