"""``embedding_bag``: the sum, mean or maximum of the embeddings in each bag, without the (bags, length, dim)
intermediate of ``embedding`` followed by a reduction."""
import functools

import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from ...creation import zeros
from ...ops.shape import concatenate
from ...tensor import Tensor
from ._grad_paths import RecomputedGradient, namespace_of, recording, spread


class EmbeddingBagFunction(Function):
    """Reduce ``weight[indices]`` (times ``per_sample_weights[kept]`` in ``"sum"`` mode) over ``bags``.

    ``indices``, ``bags`` and ``kept`` are plain arrays: the looked-up rows, the bag of each, and their places in
    the caller's input (entries equal to ``padding_idx`` are already dropped). An empty bag gives zeros. A
    recorded gradient (``create_graph``) is that of ``_bag_graph``, the same reduction from ops.
    """

    @staticmethod
    def forward(ctx, weight, per_sample_weights, indices, bags, kept, n_bags, mode):
        xp = get_array_module(weight)
        rows = weight[indices]
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.reshape(-1)[kept][:, None]
        counts = xp.bincount(bags, minlength=n_bags)
        ctx.args = indices, bags, kept, counts, mode
        ctx.save_for_backward(weight, per_sample_weights)
        if mode != "max":
            y = xp.zeros((n_bags, weight.shape[1]), rows.dtype)
            xp.add.at(y, bags, rows)
            return y / xp.maximum(counts, 1)[:, None] if mode == "mean" else y
        y = xp.full((n_bags, weight.shape[1]), -xp.inf, rows.dtype)
        xp.maximum.at(y, bags, rows)
        # the gradient goes to the first row of a bag holding its maximum
        first = xp.full(y.shape, len(indices), xp.int64)
        candidates = xp.where(rows == y[bags], xp.arange(len(indices))[:, None], len(indices))
        xp.minimum.at(first, bags, candidates)
        ctx.first = first
        y[counts == 0] = 0
        return y

    @staticmethod
    def backward(ctx, gy):
        weight, per_sample_weights = ctx.saved_tensors
        indices, bags, kept, counts, mode = ctx.args
        if recording(namespace_of(gy)):
            graph = functools.partial(_bag_graph, args=ctx.args, first=getattr(ctx, "first", None))
            inputs = (weight, per_sample_weights)
            return spread(RecomputedGradient.apply(graph, 2, *inputs, gy), inputs) + (None,) * 5
        xp = get_array_module(gy)
        gw = xp.zeros(weight.shape, gy.dtype)
        if mode == "max":
            bag, column = xp.nonzero(ctx.first < len(indices))
            xp.add.at(gw, (indices[ctx.first[bag, column]], column), gy[bag, column])
            return gw, None, None, None, None, None, None
        grows = gy[bags]
        if mode == "mean":
            grows = grows / counts[bags][:, None]
        gpsw = None
        if per_sample_weights is not None:
            gpsw = xp.zeros(per_sample_weights.size, gy.dtype)
            gpsw[kept] = (grows * weight[indices]).sum(axis=1)
            gpsw = gpsw.reshape(per_sample_weights.shape)
            grows = grows * per_sample_weights.reshape(-1)[kept][:, None]
        xp.add.at(gw, indices, grows)
        return gw, gpsw, None, None, None, None, None


def _bag_graph(weight, per_sample_weights, args, first):
    """``embedding_bag`` from differentiable ops: a product with a (bags, rows) matrix for sum and mean, for max the
    row that held each bag's maximum (a zero row past the end for an empty bag)."""
    indices, bags, kept, counts, mode = args
    xp = get_array_module(indices)
    rows = weight[indices]
    if mode == "max":
        rows = concatenate([rows, zeros((1, rows.shape[1]), dtype=rows.dtype, device=rows.device)])
        return rows.reshape(-1)[first * rows.shape[1] + xp.arange(rows.shape[1])]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[kept].reshape(-1, 1)
    members = xp.zeros((len(counts), len(indices)), rows.dtype)
    members[bags, xp.arange(len(indices))] = 1
    if mode == "mean":
        members /= xp.maximum(counts, 1)[:, None]
    return Tensor(members) @ rows


def _plain(a, name):
    """An integer NumPy array from a tensor, array or sequence."""
    a = np.asarray(a.numpy() if hasattr(a, "numpy") else (a.get() if hasattr(a, "get") else a))
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"embedding_bag: {name} must hold integers, got {a.dtype}")
    return a.astype(np.int64)


def _bags(input, offsets, include_last_offset):
    """``(indices, bags, n_bags)``: the flat indices and the bag of each, from 2-D input or 1-D input and offsets."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"embedding_bag: offsets must be None for 2-D input {input.shape} (each row is a bag)")
        n_bags, length = input.shape
        return input.reshape(-1), np.repeat(np.arange(n_bags), length), n_bags
    if input.ndim != 1 or offsets is None or offsets.ndim != 1:
        raise ValueError(f"embedding_bag: expected 2-D input, or 1-D input with 1-D offsets; got input "
                         f"{input.shape} and offsets {None if offsets is None else offsets.shape}")
    ends = offsets if include_last_offset else np.append(offsets, len(input))
    if len(offsets) and offsets[0] != 0 or (np.diff(ends) < 0).any() or len(ends) and ends[-1] > len(input):
        raise ValueError(f"embedding_bag: offsets {offsets.tolist()} must start at 0 and not decrease, and no bag "
                         f"may end past the {len(input)} indices")
    n_bags = max(len(ends) - 1, 0)
    bags = np.repeat(np.arange(n_bags), np.diff(ends)) if n_bags else np.zeros(0, np.int64)
    return input[:len(bags)], bags, n_bags


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """The ``"sum"``, ``"mean"`` or ``"max"`` of the rows of ``weight`` in each bag, as PyTorch's.

    Bags are the rows of a 2-D ``input``, or runs of a 1-D ``input`` starting at ``offsets``. Indices equal to
    ``padding_idx`` are left out (a bag of nothing gives zeros). ``per_sample_weights`` (``"sum"`` only) scale
    each looked-up row.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError("embedding_bag: max_norm, scale_grad_by_freq and sparse gradients are not supported")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D (num_embeddings, dim), got {tuple(weight.shape)}")
    input = _plain(input, "input")
    indices, bags, n_bags = _bags(input, None if offsets is None else _plain(offsets, "offsets"), include_last_offset)
    n = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise IndexError(f"embedding_bag: index {indices.max() if indices.max() >= n else indices.min()} is out of "
                         f"range for {n} embeddings")
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"embedding_bag: per_sample_weights need mode='sum', got mode={mode!r}")
        if tuple(per_sample_weights.shape) != input.shape:
            raise ValueError(f"embedding_bag: per_sample_weights {tuple(per_sample_weights.shape)} must have the "
                             f"shape of input {input.shape}")
    kept = np.arange(len(indices))
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding_bag: padding_idx {padding_idx} is out of range for {n} embeddings")
        kept = kept[indices != padding_idx % n]
    xp = get_array_module(weight.data)
    indices, bags, kept = (xp.asarray(a) for a in (indices[kept], bags[kept], kept))
    return EmbeddingBagFunction.apply(weight, per_sample_weights, indices, bags, kept, n_bags, mode)
