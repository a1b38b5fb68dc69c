"""``MultiheadAttention``, with PyTorch's arguments, masks and state-dict layout."""
import math

import numpy as np

from ... import creation
from ...backend import get_array_module
from ...ops.elementwise import where
from ...ops.shape import concatenate, pad
from ...tensor import Tensor
from .. import init
from ..functional.attention import scaled_dot_product_attention, split_last_axis
from ..functional.dropout import dropout
from ..functional.linear import linear
from ..parameter import Parameter
from .linear import Linear
from .module import Module


def as_tensor_like(mask, x):
    """``mask`` as a Tensor on ``x``'s device (a Tensor is kept as it is, so its gradient still flows)."""
    if isinstance(mask, Tensor):
        return mask
    return creation.tensor(get_array_module(mask).asarray(mask), device=x.device)  # a CuPy mask stays on the GPU


def merge_masks(attn_mask, key_padding_mask, x):
    """One mask in ``scaled_dot_product_attention``'s convention from PyTorch's MultiheadAttention masks.

    There a boolean True means *masked out*; here a boolean True means *may attend*. Two boolean masks stay
    boolean (allowed where both allow); otherwise both become additive (-inf where masked) and are added.
    """
    masks = [as_tensor_like(m, x) for m in (attn_mask, key_padding_mask) if m is not None]
    if not masks:
        return None
    if all(m.dtype == bool for m in masks):
        allowed = ~masks[0]
        for m in masks[1:]:
            allowed = allowed & ~m
        return allowed
    additive = [m.astype(x.dtype) if m.dtype != bool else
                where(m, creation.tensor(-np.inf, dtype=x.dtype, device=x.device),
                      creation.tensor(0.0, dtype=x.dtype, device=x.device)) for m in masks]
    total = additive[0]
    for m in additive[1:]:
        total = total + m
    return total


class MultiheadAttention(Module):
    """Attention of ``num_heads`` heads over learned projections of query, key and value, as PyTorch's.

    Args:
        embed_dim: E, the model's width; each head gets E // num_heads.
        num_heads: the number of heads.
        dropout: dropout probability on the attention weights (training only).
        bias: whether the input and output projections have biases.
        add_bias_kv: learn one more key and value (``bias_k``, ``bias_v``) appended to the sequence.
        add_zero_attn: append a zero key and value after projection.
        kdim, vdim: widths of key and value when not E (then ``q_proj_weight``, ``k_proj_weight`` and
            ``v_proj_weight`` replace ``in_proj_weight``).
        batch_first: inputs and outputs are (N, L, E) rather than (L, N, E).

    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) (or batch first, or without N);
        ``key_padding_mask`` (N, S), True or -inf where a key is padding; ``attn_mask`` (L, S) or
        (N * num_heads, L, S), True or -inf where attention is not allowed. Output (L, N, E), and the
        weights (N, L, S) averaged over heads or (N, num_heads, L, S) when ``need_weights``.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim, self.batch_first, self.add_zero_attn = embed_dim // num_heads, batch_first, add_zero_attn
        make = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **make))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **make))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **make))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **make))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **make))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **make)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, **make))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, **make))
        else:
            self.bias_k = self.bias_v = None
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's: Xavier-uniform projections, zero biases, Xavier-normal ``bias_k`` and ``bias_v``."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _heads(self):
        """``(start, stop)``: the heads this module computes (all of them; a model-parallel share computes
        its own)."""
        return 0, self.num_heads

    def _merge_weights(self, weights, average):
        """The attention weights to return, from those of this module's heads (N, heads, L, S)."""
        return weights.mean(axis=1) if average else weights

    def _project(self, query, key, value):
        """q, k, v from the inputs (all batch first), with PyTorch's split of the packed weight and bias."""
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:
                return split_last_axis(linear(query, w, b), 3)
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights or None)``."""
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{type(self).__name__}: expected query, key and value all 3-D (batched) or all "
                             f"2-D, got shapes {tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
        same = query is key and key is value
        # from here on batch first, (N, L, E)
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = as_tensor_like(key_padding_mask, query).unsqueeze(0)
        elif not self.batch_first:
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        if same:
            key = value = query
        batch, length, e = query.shape
        if e != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim \
                or key.shape[:2] != value.shape[:2] or key.shape[0] != batch:
            raise ValueError(f"{self!r}: got query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} (as (N, L, E)); expected E = {self.embed_dim}, key width "
                             f"{self.kdim}, value width {self.vdim} and one N")
        h0, h1 = self._heads()
        q, k, v = self._project(query, key, value)  # each (N, L or S, this module's heads * head_dim)
        if attn_mask is not None:
            is_causal = False  # PyTorch reads is_causal as a hint that attn_mask is causal; the mask decides
        elif is_causal and (need_weights or key_padding_mask is not None or self.bias_k is not None
                            or self.add_zero_attn):
            # the mask in PyTorch's convention (True: masked), over the keys before any appended ones
            attn_mask = creation.tensor(~np.tri(length, k.shape[1], dtype=bool), device=q.device)
            is_causal = False
        if attn_mask is not None:
            attn_mask = as_tensor_like(attn_mask, q)
            if attn_mask.ndim == 3:
                attn_mask = attn_mask.reshape(batch, self.num_heads, *attn_mask.shape[1:])[:, h0:h1]
        if key_padding_mask is not None:
            key_padding_mask = as_tensor_like(key_padding_mask, q)
        if self.bias_k is not None:
            k = concatenate([k, self.bias_k.expand(batch, 1, e)], axis=1)
            v = concatenate([v, self.bias_v.expand(batch, 1, e)], axis=1)
            attn_mask, key_padding_mask = (None if m is None else pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)])
                                           for m in (attn_mask, key_padding_mask))
        q, k, v = (t.reshape(batch, t.shape[1], h1 - h0, self.head_dim).swapaxes(1, 2) for t in (q, k, v))
        if self.add_zero_attn:
            k, v = (pad(t, [(0, 0), (0, 0), (0, 1), (0, 0)]) for t in (k, v))
            attn_mask, key_padding_mask = (None if m is None else pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)])
                                           for m in (attn_mask, key_padding_mask))
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.reshape(batch, 1, 1, key_padding_mask.shape[-1])
        mask = merge_masks(attn_mask, key_padding_mask, q)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q * (1 / math.sqrt(self.head_dim))) @ k.swapaxes(-1, -2)
            if mask is not None:
                scores = scores + mask if mask.dtype != bool else where(mask, scores, -np.inf)
            weights = scores.softmax(-1)
            out = dropout(weights, p) @ v
        else:
            out = scaled_dot_product_attention(q, k, v, mask, p, is_causal)
        out = self.out_proj(out.swapaxes(1, 2).reshape(batch, length, (h1 - h0) * self.head_dim))
        if weights is not None:
            weights = self._merge_weights(weights, average_attn_weights)
        if not batched:
            return out[0], None if weights is None else weights[0]
        return (out if self.batch_first else out.swapaxes(0, 1)), weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
