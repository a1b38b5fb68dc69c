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
from ...autograd.function import Function
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


def _tile_scores(q, k, mask, causal, scale, i0, i1, j0, j1, transposed):
    """Scaled, masked scores of queries ``i0:i1`` against keys ``j0:j1``; masked entries are -inf."""
    xp = get_array_module(q)
    s = _scores_product(q[..., i0:i1, :], k[..., j0:j1, :], transposed)
    s *= scale
    if mask is not None:
        tile = mask[(..., *_mask_tile(mask, i0, i1, j0, j1))]
        s = xp.where(tile, s, -np.inf) if tile.dtype == bool else s + tile
    if causal and j1 > i0 + 1:
        s = xp.where(xp.arange(j0, j1)[None, :] <= xp.arange(i0, i1)[:, None], s, -np.inf)
    return s


def _scores_product(a, b, transposed):
    """``a @ b^T``; ``transposed``: computed as the transpose of ``b @ a^T``, its rows then strided in memory, so
    that a reduction along them (the softmax's maximum and sum over the keys) runs across contiguous rows,
    about three times faster in NumPy than along each contiguous row."""
    return (b @ a.swapaxes(-1, -2)).swapaxes(-1, -2) if transposed else a @ b.swapaxes(-1, -2)


def _transposed_tile(mask, causal, dropout_p, i0, j1):
    """Whether a tile's scores are laid out transposed: only when nothing else of the tile's size (a mask, the
    causal cut, dropout factors, all in row order) meets them, since mixed layouts make NumPy's elementwise
    ops slower than the reductions gain."""
    return mask is None and not dropout_p and not (causal and j1 > i0 + 1)


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
        out = lse = m = total = acc = None
        if q.shape[-2] > QUERY_BLOCK:  # several query tiles, each writing its rows
            out = xp.zeros(q.shape[:-1] + v.shape[-1:], q.dtype)
            lse = xp.full(q.shape[:-1] + (1,), np.inf, q.dtype)
        for i, j, i0, i1, j0, j1 in _tiles(q, k, causal):
            transposed = _transposed_tile(mask, causal, dropout_p, i0, j1)
            s = _tile_scores(q, k, mask, causal, scale, i0, i1, j0, j1, transposed)  # fresh: updated in place
            tile_max = s.max(axis=-1, keepdims=True)
            m_new = tile_max if j == 0 else xp.maximum(m, tile_max)
            # a row with no key allowed so far keeps shift 0, so exp gives 0 rather than nan
            shift = xp.where(xp.isneginf(m_new), 0.0, m_new)
            s -= shift
            p = xp.exp(s, out=s)
            row_total = p.sum(axis=-1, keepdims=True)
            if dropout_p:
                p = p * _keep_scale(key, device, (i, j), p.shape, dropout_p, p.dtype)
            if j == 0:
                total, acc = row_total, p @ v[..., j0:j1, :]
            else:
                alpha = xp.exp(m - shift)
                total = total * alpha + row_total
                acc *= alpha
                acc += p @ v[..., j0:j1, :]
            m = m_new
            if j1 == k.shape[-2] or (causal and j1 >= i1):
                # a row whose keys are all masked has total 0 and acc 0, so gives zeros, as PyTorch's; its lse
                # is +inf, so its recomputed probabilities are 0 in backward
                alive = total > 0
                acc /= xp.where(alive, total, 1)
                rows_lse = xp.where(alive, shift + xp.log(xp.where(alive, total, 1)), np.inf)
                if out is None:
                    out, lse = acc, rows_lse
                else:
                    out[..., i0:i1, :], lse[..., i0:i1, :] = acc, rows_lse
        if out is None:  # no keys (or no queries): zeros, as PyTorch's
            out = xp.zeros(q.shape[:-1] + v.shape[-1:], q.dtype)
            lse = xp.full(q.shape[:-1] + (1,), np.inf, q.dtype)
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
        one_tile = 0 < q.shape[-2] <= QUERY_BLOCK and 0 < k.shape[-2] <= KEY_BLOCK
        gq, gk, gv = (None, None, None) if one_tile else (xp.zeros_like(q), xp.zeros_like(k), xp.zeros_like(v))
        gmask = xp.zeros_like(mask) if ctx.needs_input_grad[3] else None
        for i, j, i0, i1, j0, j1 in _tiles(q, k, ctx.causal):
            transposed = _transposed_tile(mask, ctx.causal, ctx.dropout_p, i0, j1)
            s = _tile_scores(q, k, mask, ctx.causal, ctx.scale, i0, i1, j0, j1, transposed)
            s -= lse[..., i0:i1, :]
            p = xp.exp(s, out=s)
            g = gout[..., i0:i1, :]
            gp = _scores_product(g, v[..., j0:j1, :], transposed)  # laid out as p: the products below are faster
            if ctx.dropout_p:
                keep = _keep_scale(ctx.key, ctx.device, (i, j), p.shape, ctx.dropout_p, p.dtype)
                tile_gv = (p * keep).swapaxes(-1, -2) @ g
                gp = gp * keep
            else:
                tile_gv = p.swapaxes(-1, -2) @ g
            gp -= delta[..., i0:i1, :]
            gp *= p
            gs = gp
            tile_gq = gs @ k[..., j0:j1, :]
            tile_gq *= ctx.scale
            tile_gk = gs.swapaxes(-1, -2) @ q[..., i0:i1, :]
            tile_gk *= ctx.scale
            if one_tile:
                gq, gk, gv = tile_gq, tile_gk, tile_gv
            else:
                gq[..., i0:i1, :] += tile_gq
                gk[..., j0:j1, :] += tile_gk
                gv[..., j0:j1, :] += tile_gv
            if gmask is not None:
                where = (..., *_mask_tile(mask, i0, i1, j0, j1))
                gmask[where] += sum_to(gs, gmask[where].shape)
        if gq is None:  # no keys or no queries: nothing to differentiate
            gq, gk, gv = xp.zeros_like(q), xp.zeros_like(k), xp.zeros_like(v)
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


class SplitLastAxis(Function):
    """Equal pieces of the last axis of ``x``, as views: the query, key and value of a packed projection. Its
    backward joins the pieces' gradients with one concatenate, where a slice per piece would fill a zero array
    of the whole size for each and add them up (13 ms against 1.5 ms for a (32, 128, 768) projection)."""

    is_view = True

    @staticmethod
    def forward(ctx, x, parts):
        size = x.shape[-1] // parts
        return tuple(x[..., i * size:(i + 1) * size] for i in range(parts))

    @staticmethod
    def backward(ctx, *grads):
        return namespace_of(*grads).concatenate(grads, axis=-1), None


def split_last_axis(x, parts):
    """``x.chunk(parts, -1)`` for a last axis that ``parts`` divides, with a faster gradient."""
    if x.shape[-1] % parts:
        raise ValueError(f"split_last_axis: the last axis of {tuple(x.shape)} does not divide into {parts} pieces")
    return SplitLastAxis.apply(x, parts)


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
