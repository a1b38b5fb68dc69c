"""``scaled_dot_product_attention``: softmax(q k^T * scale + mask) v, one tile of scores at a time.

The scores are never held whole. The forward works on tiles of ``QUERY_BLOCK`` queries by ``KEY_BLOCK``
keys with an online softmax along the keys (a running row maximum and row sum rescale what was
accumulated so far), and keeps only the output and each row's log-sum-exp; the backward recomputes each
tile's probabilities from them, and dropout's mask from a seed. Beside the inputs and outputs, memory is
a few tiles per batch entry, whatever the sequence lengths.
"""
import functools
import math

import numpy as np

from ... import random as st_random
from ...backend import device_random_generator, get_array_module
from ...ops._grad_utils import sum_to
from ...ops.elementwise import where
from ...ops.reduction import softmax
from ._grad_paths import KeepsIntermediates, RecomputedGradient, namespace_of, recording, spread
from ...tensor import Tensor

__all__ = ["scaled_dot_product_attention"]

#: queries and keys per tile; a sequence this long or shorter is one tile, as fast as the unblocked formula
QUERY_BLOCK = 256
KEY_BLOCK = 256


def _blocks(n, size):
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _mask_tile(mask, i0, i1, j0, j1):
    """The part of ``mask`` over queries ``i0:i1`` and keys ``j0:j1``; an axis of size 1 broadcasts whole."""
    rows = slice(None) if mask.shape[-2] == 1 else slice(i0, i1)
    cols = slice(None) if mask.shape[-1] == 1 else slice(j0, j1)
    return rows, cols


def _tile_scores(q, k, mask, causal, scale, i0, i1, j0, j1):
    """Scaled, masked scores of queries ``i0:i1`` against keys ``j0:j1``; masked entries are -inf."""
    xp = get_array_module(q)
    s = (q[..., i0:i1, :] @ k[..., j0:j1, :].swapaxes(-1, -2)) * scale
    if mask is not None:
        tile = mask[(..., *_mask_tile(mask, i0, i1, j0, j1))]
        s = xp.where(tile, s, -np.inf) if tile.dtype == bool else s + tile
    if causal and j1 > i0 + 1:
        s = xp.where(xp.arange(j0, j1)[None, :] <= xp.arange(i0, i1)[:, None], s, -np.inf)
    return s


def _tiles(q, k, causal):
    """``(i, j, i0, i1, j0, j1)`` for each tile; under a causal mask the tiles wholly above the diagonal are
    skipped, since every score in them is masked."""
    for i, (i0, i1) in enumerate(_blocks(q.shape[-2], QUERY_BLOCK)):
        for j, (j0, j1) in enumerate(_blocks(k.shape[-2], KEY_BLOCK)):
            if causal and j0 > i1 - 1:
                break
            yield i, j, i0, i1, j0, j1


def _keep_scale(key, device, tile, shape, p, dtype):
    """The dropout factors of one tile (0 or 1 / (1 - p)), regenerated from ``key`` and the tile's index."""
    rng = device_random_generator(device, np.random.SeedSequence(key, spawn_key=tile))
    keep = rng.random(shape, dtype="float32" if dtype.itemsize <= 4 else "float64") >= p
    return keep.astype(dtype) * (0.0 if p == 1 else 1.0 / (1.0 - p))


class BlockedAttention(KeepsIntermediates):
    """Attention over tiles of scores; a recorded gradient (``create_graph``) is that of ``_attention_graph``, the
    same attention from ops over the whole score matrix."""

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, dropout_p, key, device):
        xp = get_array_module(q)
        out = xp.zeros(q.shape[:-1] + v.shape[-1:], q.dtype)
        lse = xp.full(q.shape[:-1] + (1,), np.inf, q.dtype)
        m = total = acc = None
        for i, j, i0, i1, j0, j1 in _tiles(q, k, causal):
            if j == 0:
                rows = q.shape[:-2] + (i1 - i0, 1)
                m, total = xp.full(rows, -np.inf, q.dtype), xp.zeros(rows, q.dtype)
                acc = xp.zeros(rows[:-1] + v.shape[-1:], q.dtype)
            s = _tile_scores(q, k, mask, causal, scale, i0, i1, j0, j1)
            m_new = xp.maximum(m, s.max(axis=-1, keepdims=True))
            # a row with no key allowed so far keeps shift 0, so exp gives 0 rather than nan
            shift = xp.where(xp.isneginf(m_new), 0.0, m_new)
            p = xp.exp(s - shift)
            alpha = xp.exp(m - shift)
            total = total * alpha + p.sum(axis=-1, keepdims=True)
            if dropout_p:
                p = p * _keep_scale(key, device, (i, j), p.shape, dropout_p, p.dtype)
            acc = acc * alpha + p @ v[..., j0:j1, :]
            m = m_new
            if j1 == k.shape[-2] or (causal and j1 >= i1):
                # a row whose keys are all masked gives zeros, as PyTorch's; its lse stays +inf, so its
                # recomputed probabilities are 0 in backward
                alive = total > 0
                safe = xp.where(alive, total, 1)
                out[..., i0:i1, :] = xp.where(alive, acc / safe, 0)
                lse[..., i0:i1, :] = xp.where(alive, shift + xp.log(safe), np.inf)
        ctx.causal, ctx.scale, ctx.dropout_p, ctx.key, ctx.device = causal, scale, dropout_p, key, device
        ctx.save_for_backward(q, k, v, mask, out)
        ctx.keep(lse)
        return out

    @staticmethod
    def backward(ctx, gout):
        q, k, v, mask, out = ctx.saved_tensors
        lse, = ctx.intermediates
        if recording(namespace_of(gout)):
            keep = Tensor(_dropout_factors(ctx, q, k, lse)) if ctx.dropout_p else None
            graph = functools.partial(_attention_graph, causal=ctx.causal, scale=ctx.scale,
                                      alive=Tensor((lse != np.inf).astype(lse.dtype)), keep=keep)
            inputs = (q, k, v, mask)
            return spread(RecomputedGradient.apply(graph, 4, *inputs, gout), inputs) + (None,) * 5
        xp = get_array_module(q)
        # rowsum(P * dP) = rowsum(dO * O), with or without dropout
        delta = (gout * out).sum(axis=-1, keepdims=True)
        gq, gk, gv = xp.zeros_like(q), xp.zeros_like(k), xp.zeros_like(v)
        gmask = xp.zeros_like(mask) if ctx.needs_input_grad[3] else None
        for i, j, i0, i1, j0, j1 in _tiles(q, k, ctx.causal):
            p = xp.exp(_tile_scores(q, k, mask, ctx.causal, ctx.scale, i0, i1, j0, j1) - lse[..., i0:i1, :])
            g = gout[..., i0:i1, :]
            gp = g @ v[..., j0:j1, :].swapaxes(-1, -2)
            if ctx.dropout_p:
                keep = _keep_scale(ctx.key, ctx.device, (i, j), p.shape, ctx.dropout_p, p.dtype)
                gv[..., j0:j1, :] += (p * keep).swapaxes(-1, -2) @ g
                gp = gp * keep
            else:
                gv[..., j0:j1, :] += p.swapaxes(-1, -2) @ g
            gs = p * (gp - delta[..., i0:i1, :])
            gq[..., i0:i1, :] += (gs @ k[..., j0:j1, :]) * ctx.scale
            gk[..., j0:j1, :] += (gs.swapaxes(-1, -2) @ q[..., i0:i1, :]) * ctx.scale
            if gmask is not None:
                where = (..., *_mask_tile(mask, i0, i1, j0, j1))
                gmask[where] += sum_to(gs, gmask[where].shape)
        return gq, gk, gv, gmask, None, None, None, None, None


def _dropout_factors(ctx, q, k, lse):
    """The forward's dropout factors over the whole (..., L, S) score matrix, tile by tile from its key."""
    xp = get_array_module(lse)
    keep = xp.zeros(lse.shape[:-1] + k.shape[-2:-1], lse.dtype)
    for i, j, i0, i1, j0, j1 in _tiles(q, k, ctx.causal):
        shape = lse.shape[:-2] + (i1 - i0, j1 - j0)
        keep[..., i0:i1, j0:j1] = _keep_scale(ctx.key, ctx.device, (i, j), shape, ctx.dropout_p, lse.dtype)
    return keep


def _attention_graph(q, k, v, mask, causal, scale, alive, keep):
    """``softmax(q k^T * scale + mask) v`` from differentiable ops; rows with no key allowed (``alive`` 0) give
    zeros, and ``keep`` holds the dropout factors."""
    xp = get_array_module(alive.data)
    s = (q @ k.swapaxes(-1, -2)) * scale
    if mask is not None:
        s = where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = where(xp.arange(k.shape[-2])[None, :] <= xp.arange(q.shape[-2])[:, None], s, -np.inf)
    p = softmax(where(alive > 0, s, 0.0), -1) * alive  # a dead row's scores all -inf: zeros, without a nan gradient
    return (p if keep is None else p * keep) @ v


def _as_array(x, like):
    return x.data if isinstance(x, Tensor) else get_array_module(like).asarray(x)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """``softmax(query @ key^T * scale + attn_mask) @ value``, computed over blocks of keys, as PyTorch's.

    ``attn_mask``: boolean (True where a query may attend to a key) or additive (added to the scores),
    broadcastable to (..., L, S). ``is_causal``: query i attends to keys 0..i. ``scale`` defaults to
    ``1 / sqrt(E)``. Dropout with probability ``dropout_p`` acts on the attention weights (always, as in
    PyTorch: pass ``dropout_p=0`` at evaluation). A query whose keys are all masked gets zeros.

    Shape:
        query (..., L, E), key (..., S, E), value (..., S, Ev); output (..., L, Ev).
    """
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or q.shape[:-2] != k.shape[:-2] \
            or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev) with the same leading axes, got {tuple(q.shape)}, {tuple(k.shape)} and "
                         f"{tuple(v.shape)}")
    if not (k.dtype == q.dtype == v.dtype):
        raise RuntimeError(f"scaled_dot_product_attention: query, key and value must have one dtype, got "
                           f"{q.dtype}, {k.dtype} and {v.dtype}")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be between 0 and 1, got {dropout_p}")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both "
                             "(fold the causal mask into attn_mask)")
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(_as_array(attn_mask, q.data))
        scores_shape = tuple(q.shape[:-1]) + (k.shape[-2],)
        try:
            np.broadcast_shapes(tuple(mask.shape), scores_shape)
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to the scores' shape {scores_shape} (..., L, S)") from None
        if mask.ndim < q.ndim:
            mask = mask.reshape((1,) * (q.ndim - mask.ndim) + tuple(mask.shape))
        if mask.dtype != bool and mask.dtype != q.dtype:
            mask = mask.astype(q.dtype)
    seed = st_random.draw_key() if dropout_p else None
    return BlockedAttention.apply(q, k, v, mask, bool(is_causal), scale, float(dropout_p), seed, q.device)
