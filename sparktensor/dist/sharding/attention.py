"""``ParallelMultiheadAttention``: attention heads split across ranks, Megatron-style; and the Transformer
layers' feed-forward pair.

Rank m keeps its heads' rows of the query, key and value blocks of ``in_proj_weight`` and ``in_proj_bias``
(column-parallel: its input is whole, its q, k and v hold only its heads) and its heads' columns of
``out_proj.weight`` (row-parallel: one all-reduce sums the heads' contributions, the bias is added once after
it). Attention itself needs no communication, since heads are independent. Per block and step: one
all-reduce of (N, L, E) forward (``out_proj``) and one backward (the input's gradient); the feed-forward
block ``linear1``/``linear2`` is a column/row pair with the same two. ``need_weights`` adds an all-reduce of
the head-averaged weights (or an all-gather of the per-head ones).
"""
from ...nn.modules.attention import MultiheadAttention
from ...nn.modules.module import Module
from ...nn.parameter import Parameter
import contextlib

from ...nn.functional.attention import split_last_axis
from ...nn.functional.linear import linear
from .communication import gather_from_parallel, reduce_from_parallel
from .linear import ColumnParallelLinear, RowParallelLinear
from .linear_ops import column_parallel_linear
from .split import Split, bounds


def splits_attention(module):
    """Whether ``ParallelMultiheadAttention`` takes ``module``: one embedding width for q, k and v, and no
    ``add_bias_kv`` or ``add_zero_attn`` (those stay replicated)."""
    return (isinstance(module, MultiheadAttention) and module._qkv_same_embed_dim and module.bias_k is None
            and not module.add_zero_attn)


class ParallelMultiheadAttention(MultiheadAttention):
    """This rank's heads of a ``MultiheadAttention`` (``np.array_split`` of the heads over the ranks of ``comm``).

    Same arguments to ``forward``, same outputs on every rank, same state-dict keys with this rank's rows of
    ``in_proj_weight``/``in_proj_bias`` and columns of ``out_proj.weight``.

    Args:
        layer: the ordinary ``MultiheadAttention`` to split (its weights are copied; of one built under
            ``nn.init.deferred_init``, only this rank's share is made).
        comm: the model group's communicator.
    """

    def __init__(self, layer, comm):
        if not splits_attention(layer):
            raise ValueError(f"ParallelMultiheadAttention: {layer!r} has kdim/vdim, add_bias_kv or add_zero_attn; "
                             f"such a layer stays replicated")
        Module.__init__(self)
        for name in ("training", "embed_dim", "num_heads", "dropout", "kdim", "vdim", "_qkv_same_embed_dim", "head_dim",
                     "batch_first", "add_zero_attn"):
            setattr(self, name, getattr(layer, name))
        self.comm = comm
        self.start, self.stop = bounds(layer.num_heads, comm.rank, comm.world_size)
        # the q, k and v blocks each give this rank its heads' rows
        self.splits = {"in_proj_weight": Split(0, 3, layer.head_dim), "in_proj_bias": Split(0, 3, layer.head_dim)}
        for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            self.register_parameter(name, None)
        for name, split in self.splits.items():
            p = getattr(layer, name)
            if p is None:
                self.register_parameter(name, None)
            else:
                setattr(self, name, Parameter(split.take(p.data, comm.rank, comm.world_size), p.requires_grad))
        self.out_proj = RowParallelLinear.from_dense(layer.out_proj, comm, unit=layer.head_dim)
        self.bias_k = self.bias_v = None

    def _heads(self):
        return self.start, self.stop

    @contextlib.contextmanager
    def rows_split(self, axis, projected=None):
        """Within: the input comes from ``gather_rows`` or ``copy_to_parallel`` (whose backward sums its gradient
        over the ranks), and the output is this rank's rows along ``axis`` of the batch-first (N, L, E)
        projection (``reduce_scatter_rows``), without the output bias: sequence parallelism (``transformer.py``).
        ``projected``: the packed q, k, v (N, L, 3 * this rank's width) the caller already computed; the query
        is then read for its shape only."""
        self._gathered_input, self._projected, self.out_proj.scatter_axis = True, projected, axis
        try:
            yield
        finally:
            self._gathered_input, self._projected, self.out_proj.scatter_axis = False, None, None

    _gathered_input, _projected = False, None

    def _project(self, query, key, value):
        local = (self.stop - self.start) * self.head_dim
        b = self.in_proj_bias
        if self._projected is not None:
            return split_last_axis(self._projected, 3)
        if query is key and key is value:
            if self._gathered_input:
                return split_last_axis(linear(query, self.in_proj_weight, b), 3)
            return split_last_axis(column_parallel_linear(query, self.in_proj_weight, b, self.comm), 3)
        w = self.in_proj_weight
        pieces = zip((query, key, value), (w[:local], w[local:2 * local], w[2 * local:]),
                     (None,) * 3 if b is None else (b[:local], b[local:2 * local], b[2 * local:]))
        return tuple(column_parallel_linear(x, wi, bi, self.comm) for x, wi, bi in pieces)

    def _merge_weights(self, weights, average):
        if average:
            return reduce_from_parallel(weights.sum(axis=1), self.comm) / self.num_heads
        return gather_from_parallel(weights, self.comm, axis=1)

    def reset_parameters(self):
        raise NotImplementedError("ParallelMultiheadAttention: initialize the ordinary layer, then shard it")

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads} (rank {self.comm.rank} holds heads "
                f"{self.start}:{self.stop}), batch_first={self.batch_first}")


def parallel_feed_forward(layer, comm):
    """A Transformer layer's ``linear1`` column-parallel and ``linear2`` row-parallel: the hidden layer stays
    split through the activation and dropout, and one all-reduce makes the block's output whole."""
    return {"linear1": ColumnParallelLinear.from_dense(layer.linear1, comm),
            "linear2": RowParallelLinear.from_dense(layer.linear2, comm)}
