"""Sharded Transformer encoder layers and stacks: heads and feed-forward split, the rest sequence-parallel.

Megatron-LM's split alone leaves, between a row-parallel product and the next column-parallel one, the whole
activation on every rank: the residual sums, the layer norms and the dropouts are computed M times over.
Here each rank keeps only its own rows there (the first axis of the layer's activations: the batch with
``batch_first``, the sequence otherwise; cut as ``np.array_split`` cuts): the row-parallel products are
reduce-scattered instead of all-reduced, and the rows all-gathered again before the next column-parallel
product, with the same bytes as the all-reduce, so each rank normalizes 1/M of the rows.

A stack (``ParallelTransformerEncoder``) stays split from its first layer to its last: the first layer's
attention reads the whole input as it came, each rank takes its rows of it for the residual, and the output
rows are all-gathered once at the end. The replicated parameters applied to a rank's rows only (the layer
norms, the two row-parallel biases) get a gradient from those rows, so ``sum_gradients`` sums them over the
ranks, all in one all-reduce per stack and step.
"""
from ...backend import get_array_module
from ...nn.functional.normalization import layer_norm
from ...nn.modules.normalization import LayerNorm
from ...nn.modules.transformer import TransformerEncoder, TransformerEncoderLayer
from ...tensor import Tensor
from .attention import ParallelMultiheadAttention
from .communication import copy_to_parallel, gather_from_parallel, scatter_to_parallel, sum_gradients
from .linear import ColumnParallelLinear, RowParallelLinear
from .sequence_ops import gathered_linear, scattered_linear

_ROW_PARAMETERS = ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "self_attn.out_proj.bias",
                   "linear2.bias")


def _plus(x, bias):
    return x if bias is None else x + bias


def _summed(comm, named):
    """``{name: tensor}`` of ``named`` (``(name, tensor or None)`` pairs), each gradient summed over the ranks."""
    present = [(name, t) for name, t in named if t is not None]
    return dict(zip((name for name, _ in present), sum_gradients(comm, *(t for _, t in present))))


class ParallelTransformerEncoderLayer(TransformerEncoderLayer):
    """This rank's share of a ``TransformerEncoderLayer`` (made by ``shard``): heads and feed-forward hidden
    units split, residuals and layer norms on this rank's rows only. Same arguments, outputs and state-dict keys
    as the ordinary layer."""

    @classmethod
    def takes(cls, layer):
        """Whether ``layer`` (already sharded by ``shard``'s rules) can run sequence-parallel."""
        return (isinstance(layer.self_attn, ParallelMultiheadAttention)
                and isinstance(layer.linear1, ColumnParallelLinear) and isinstance(layer.linear2, RowParallelLinear)
                and isinstance(layer.norm1, LayerNorm) and isinstance(layer.norm2, LayerNorm))

    @property
    def comm(self):
        return self.self_attn.comm

    def row_parameters(self, prefix=""):
        """``(name, tensor or None)`` of the replicated parameters this layer applies to its rows only."""
        return [(prefix + name, self._parameter(name)) for name in _ROW_PARAMETERS]

    def _parameter(self, name):
        module = self
        *path, attr = name.split(".")
        for part in path:
            module = getattr(module, part)
        return module._parameters.get(attr)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """Encode ``src`` (whole, the same on every rank); the output is whole and the same on every rank."""
        rows = scatter_to_parallel(src, self.comm, axis=0)
        out = self.forward_rows(rows, _summed(self.comm, self.row_parameters()), src.shape[0], src, src_mask,
                                src_key_padding_mask, is_causal)
        return gather_from_parallel(out, self.comm, axis=0)

    def forward_rows(self, rows, params, length, whole=None, src_mask=None, src_key_padding_mask=None,
                     is_causal=False):
        """This rank's rows of the output from its ``rows`` of the input (its piece of ``length`` along the first
        axis); ``params``: the row parameters by name (gradients summed over the ranks); ``whole``: the whole
        input if at hand (saves gathering it)."""
        masks = dict(attn_mask=src_mask, key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if self.norm_first:
            rows = rows + self._attend(self._norm("norm1", rows, params), None, params, masks, length)
            return rows + self._feed_forward(self._norm("norm2", rows, params), params, length)
        h = self._norm("norm1", rows + self._attend(rows, whole, params, masks, length), params)
        return self._norm("norm2", h + self._feed_forward(h, params, length), params)

    def _norm(self, name, x, params):
        norm = getattr(self, name)
        return layer_norm(x, norm.normalized_shape, params.get(f"{name}.weight"), params.get(f"{name}.bias"), norm.eps)

    def _attend(self, rows, whole, params, masks, length):
        attention, batched = self.self_attn, rows.ndim == 3
        # the attention's own (N, L, E) layout: the rows of the layer's first axis are its batch or its sequence
        axis = 0 if batched and self.batch_first else 1
        if whole is not None:
            x, projected = copy_to_parallel(whole, self.comm), None
        else:  # q, k, v of every rank's rows, this rank's own multiplied while the others arrive
            packed = gathered_linear(rows, attention.in_proj_weight, attention.in_proj_bias, self.comm, length)
            projected = packed if axis == 0 else packed.swapaxes(0, 1) if batched else packed.unsqueeze(0)
            xp = get_array_module(rows.data)
            x = Tensor(xp.broadcast_to(xp.zeros((), rows.dtype), (length,) + tuple(rows.shape[1:])))  # its shape
        with attention.rows_split(axis, projected):
            out = attention(x, x, x, need_weights=False, **masks)[0]
        return self.dropout1(_plus(out, params.get("self_attn.out_proj.bias")))

    def _feed_forward(self, rows, params, length):
        hidden = gathered_linear(rows, self.linear1.weight, self.linear1.bias, self.comm, length)
        out = scattered_linear(self.dropout(self.activation(hidden)), self.linear2.weight, self.comm)
        return self.dropout2(_plus(out, params.get("linear2.bias")))


class ParallelTransformerEncoder(TransformerEncoder):
    """This rank's share of a ``TransformerEncoder`` whose layers are ``ParallelTransformerEncoderLayer``: the
    activations stay split by rows from the first layer to the last (and its final ``LayerNorm``)."""

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """Run ``src`` (whole, the same on every rank) through every layer; the output is whole on every rank."""
        comm = self.layers[0].comm
        named = [p for i, layer in enumerate(self.layers) for p in layer.row_parameters(f"layers.{i}.")]
        row_norm = isinstance(self.norm, LayerNorm)
        if row_norm:
            named += [("norm.weight", self.norm.weight), ("norm.bias", self.norm.bias)]
        params = _summed(comm, named)
        x = scatter_to_parallel(src, comm, axis=0)
        for i, layer in enumerate(self.layers):
            own = {name[len(f"layers.{i}."):]: t for name, t in params.items() if name.startswith(f"layers.{i}.")}
            x = layer.forward_rows(x, own, src.shape[0], src if i == 0 else None, mask, src_key_padding_mask,
                                   bool(is_causal))
        if row_norm:
            x = layer_norm(x, self.norm.normalized_shape, params.get("norm.weight"), params.get("norm.bias"),
                           self.norm.eps)
        x = gather_from_parallel(x, comm, axis=0)
        return self.norm(x) if self.norm is not None and not row_norm else x
