"""Max pooling's two array kernels, run per block of channels on the intra-op threads.

Every step of max pooling is independent across channels, so each block of channels copies its own windows
into slabs, finds their maxima, and (backward) writes its gradients, on its own thread.
"""
import numpy as np

from ... import parallel
from ...backend import get_array_module


def over_channels(xp, channels, size, job):
    """``job(lo, hi)`` over blocks of ``range(channels)``, on the intra-op threads for large NumPy arrays."""
    if xp is not np or channels <= 1:
        job(0, channels)
    else:
        parallel.run_blocks(job, channels, size)


def max_and_index(windows, slabs_of, y, index):
    """Write into ``y`` the maximum over the kernel offsets of the (kh, kw, N, C, Ho, Wo) ``windows``, and into
    ``index`` the offset of the first maximum (PyTorch's argmax); ``slabs_of`` copies windows into slabs."""
    xp = get_array_module(y)

    def channels(lo, hi):
        slabs = slabs_of(xp, windows[:, :, :, lo:hi])
        top, at = y[:, lo:hi], index[:, lo:hi]
        top[...] = slabs[0]
        at[...] = 0
        for k in range(1, len(slabs)):
            # ties keep the earlier index; maximum propagates NaN into the value
            at += (slabs[k] > top) * (k - at)
            xp.maximum(top, slabs[k], out=top)
    over_channels(xp, y.shape[1], windows.size, channels)


def scatter_to_max(ga, gy, index, targets, disjoint):
    """Add (assign, for ``disjoint`` windows) each window's gradient ``gy`` at its maximum: into the view of the
    zeroed ``ga`` that kernel offset ``k`` reads, ``targets[k]``."""
    xp = get_array_module(gy)

    def channels(lo, hi):
        ga[:, lo:hi] = 0
        g, at = gy[:, lo:hi], index[:, lo:hi]
        for k, target in enumerate(targets):
            if disjoint:
                xp.multiply(g, at == k, out=target[:, lo:hi])
            else:
                target[:, lo:hi] += g * (at == k)
    over_channels(xp, gy.shape[1], ga.size, channels)
