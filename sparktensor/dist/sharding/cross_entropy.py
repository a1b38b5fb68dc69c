"""``parallel_cross_entropy``: the cross-entropy of logits whose classes are split across ranks, never gathered.

With a large output layer (a vocabulary), gathering the (N, C) logits on every rank costs as much memory and
traffic as the layer saves. Instead each rank keeps its (N, C_m) slice, and three numbers per sample are
reduced: the maximum logit (for a stable softmax), the sum of exponentials and the target's logit (only its
owner has it; the others add zero). Backward needs no communication: the gradient of each rank's slice is
its softmax slice minus the one-hot target slice, over N.
"""
import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from ...tensor import Tensor


class ParallelCrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, comm):
        xp = get_array_module(logits)
        n, own = logits.shape
        sizes = comm.all_gather(np.array([own]))
        start, total = int(sizes[:comm.rank].sum()), int(sizes.sum())
        if target.size and (target.min() < 0 or target.max() >= total):
            bad = int(target.min()) if target.min() < 0 else int(target.max())
            raise IndexError(f"parallel_cross_entropy: target {bad} is out of range for {total} classes")
        local_max = logits.max(axis=-1) if own else xp.full(n, -np.inf, logits.dtype)
        shifted = logits - comm.all_reduce(local_max, op="max")[:, None]
        exp = xp.exp(shifted)
        mine = (target >= start) & (target < start + own)
        rows, local = xp.arange(n), xp.where(mine, target - start, 0)
        picked = xp.where(mine, shifted[rows, local] if own else 0, 0)
        sums = comm.all_reduce(xp.stack([exp.sum(axis=-1), picked]))
        ctx.save_for_backward(exp / sums[0][:, None], mine, local)
        return xp.asarray((xp.log(sums[0]) - sums[1]).mean())

    @staticmethod
    def backward(ctx, gy):
        softmax, mine, local = ctx.saved_tensors
        xp = get_array_module(softmax)
        g = softmax.copy()
        g[xp.arange(len(g))[mine], local[mine]] -= 1
        g *= gy / len(g)
        return g, None, None


def parallel_cross_entropy(logits, target, comm):
    """Mean cross-entropy of (N, C) logits split along the class axis over ``comm`` (each rank its slice).

    Equals ``F.cross_entropy`` of the gathered logits; ``target`` (N,) holds class indices over all C classes
    and is the same on every rank. Use it with ``shard(model, comm, split_output=True)``.
    """
    if logits.ndim != 2:
        raise ValueError(f"parallel_cross_entropy: expected logits (N, this rank's classes), got shape "
                         f"{tuple(logits.shape)}")
    ids = target.data if isinstance(target, Tensor) else np.asarray(target)
    if ids.shape != logits.shape[:1] or ids.dtype.kind not in "iu":
        raise ValueError(f"parallel_cross_entropy: expected integer targets of shape ({logits.shape[0]},), got "
                         f"{ids.dtype} of shape {ids.shape}")
    return ParallelCrossEntropy.apply(logits, ids, comm)
