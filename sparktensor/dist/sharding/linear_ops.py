"""The products of the column- and row-parallel layers with their all-reduce inside, overlapped with compute.

* ``column_parallel_linear``: ``x @ weight.T + bias`` on a whole input; in backward the input's gradient is
  summed over the ranks. That all-reduce runs on a background thread while this rank computes the weight's
  and the bias's gradients, which do not need it.
* ``row_parallel_linear``: ``all_reduce(x @ weight.T) + bias`` on a split input. The rows are taken in
  blocks: while one block's partial product is being summed over the ranks, the next block's is computed.

Both give what ``linear`` with ``copy_to_parallel`` / ``reduce_from_parallel`` around it gives, and send the
same bytes (the row blocks together are the whole output). NumPy's matrix products release the GIL, so the
communication threads run beside them. Their gradients are not differentiable again (``create_graph``).
"""
import math

from ...amp.autocast_mode import lower_precision
from ...autograd.function import Function
from ...backend import get_array_module
from ...nn.functional.linear import check_dtypes
from .background import start_collective

ROW_BLOCK_BYTES = 1 << 20  # a block of the row-parallel output summed at a time (about)
MAX_ROW_BLOCKS = 4


def _flat(x):
    return x if x.ndim == 2 else x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


class ColumnParallelLinearFunction(Function):
    once_differentiable = True

    @staticmethod
    def forward(ctx, x, weight, bias, comm):
        ctx.comm = comm
        ctx.save_for_backward(x, weight)
        y = _flat(x) @ weight.T
        if bias is not None:
            y += bias
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + y.shape[-1:])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        gy2 = _flat(gy)
        # the input's gradient is a partial sum on each rank: sum it while the weight's gradient is computed
        pending = start_collective(ctx.comm, "all_reduce", gy2 @ weight) if need_x else None
        try:
            gw = (gy2.swapaxes(0, 1) @ _flat(x)) if need_w else None
            gb = gy2.sum(axis=0) if need_b else None
        finally:
            gx = pending.result() if pending is not None else None
        return (None if gx is None else gx.reshape(x.shape)), gw, gb, None


class RowParallelLinearFunction(Function):
    once_differentiable = True

    @staticmethod
    def forward(ctx, x, weight, bias, comm):
        ctx.save_for_backward(x, weight)
        x2 = _flat(x)
        xp = get_array_module(x2)
        y = xp.empty((x2.shape[0], weight.shape[0]), dtype=x2.dtype)
        pending, rows = None, None
        try:
            for block in _row_blocks(x2.shape[0], weight.shape[0] * x2.itemsize, comm.world_size):
                partial = x2[block] @ weight.T  # computed while the previous block is summed
                if pending is not None:
                    _finish(y, rows, pending.result(), bias)
                pending, rows = start_collective(comm, "all_reduce", partial), block
        finally:  # joined even when a product failed: the communicator is free again
            last = pending.result() if pending is not None else None
        _finish(y, rows, last, bias)
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + y.shape[-1:])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        gy2 = _flat(gy)  # the sum's gradient reaches every rank's partial product unchanged
        gx = None
        if need_x:
            gx = gy2 @ weight
            gx = gx if x.ndim == 2 else gx.reshape(x.shape)
        gw = (gy2.swapaxes(0, 1) @ _flat(x)) if need_w else None
        gb = gy2.sum(axis=0) if need_b else None
        return gx, gw, gb, None


def _row_blocks(rows, row_bytes, world_size):
    """Slices of ``range(rows)``: blocks of about ``ROW_BLOCK_BYTES`` of output each (one with one rank)."""
    if rows == 0:
        return [slice(0, 0)]
    count = 1 if world_size == 1 else max(1, min(MAX_ROW_BLOCKS, rows * row_bytes // ROW_BLOCK_BYTES, rows))
    step = -(-rows // count)
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


def _finish(y, rows, total, bias):
    """The summed block into its rows of ``y``, the bias added on the way."""
    if bias is None:
        y[rows] = total
    else:
        get_array_module(y).add(total, bias, out=y[rows])


@lower_precision
def column_parallel_linear(x, weight, bias, comm):
    """``x @ weight.T + bias`` for this rank's output features; backward sums the input's gradient over
    ``comm``, overlapped with the weight's gradient."""
    _check(x, weight, bias, "column_parallel_linear")
    return ColumnParallelLinearFunction.apply(x, weight, bias, comm)


@lower_precision
def row_parallel_linear(x, weight, bias, comm):
    """``sum over the ranks of comm of (x @ weight.T), + bias``, ``x`` and ``weight`` this rank's input features;
    the sum of one block of rows overlaps the product of the next."""
    _check(x, weight, bias, "row_parallel_linear")
    return RowParallelLinearFunction.apply(x, weight, bias, comm)


def _check(x, weight, bias, op):
    if x.ndim == 0 or x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 'no'} features, "
                         f"the weight {tuple(weight.shape)} expects {weight.shape[1]}")
    check_dtypes(op, x, weight=weight, bias=bias)
