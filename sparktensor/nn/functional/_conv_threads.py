"""The blocked products of ``conv2d`` split over the intra-op threads, BLAS on one thread in each.

Each thread builds the window matrix of its own output rows and multiplies it: the window copies (NumPy,
one core each) then run in parallel as well as the products. OpenBLAS is held at one thread meanwhile, so
that the threads' small products do not compete for its own pool. On a quiet 2-core machine the split was slower
than OpenBLAS's own threads (small VGG step, 2 threads, interleaved: 98-115 against 88-102 ms; LeNet-5 7.4 against
6.9 ms), so it is off unless ``SPLIT_OVER_THREADS`` is set.

The loss comes from sharing two cores with OpenBLAS's own threads (its idle worker spins for a while after a
threaded product, and holding it at one thread only for the split's duration, or stopping its workers before each
split, did not help). With OpenBLAS held at one thread for the whole process the split is the fastest small VGG
step measured (78 against 93 ms), but a model whose large products need OpenBLAS's threads then loses more (MLP
4.8 against 3.7 ms): ``bench/thread_pools.py``.
"""
import contextlib

import numpy as np

from ... import parallel

#: whether the products are split over the intra-op threads at all (off: measured slower when the machine is quiet)
SPLIT_OVER_THREADS = False
#: multiply-adds counted as one element of work for ``parallel.run_blocks`` (a product of about 4M
#: multiply-adds, some 50 us, is worth splitting)
MACS_PER_ELEMENT = 64

_blas = []


def over_rows(xp, g, job):
    """``[job(start, stop), ...]`` over the output rows ``range(g.ho)``, cut into one block per thread (one block
    for small products and off the CPU)."""
    return _split(xp, g.ho, g.groups * g.og * g.depth * g.positions, job)


def over_channels(xp, g, job):
    """``[job(lo, hi), ...]`` over the input channels of each group, ``range(C/groups)``, as ``over_rows``."""
    return _split(xp, g.cg, g.groups * g.og * g.patch * g.positions, job)


def _split(xp, total, macs, job):
    work = macs // MACS_PER_ELEMENT
    if not SPLIT_OVER_THREADS or xp is not np or len(parallel.blocks(total, work)) == 1:
        return [job(0, total)]
    with _one_blas_thread():
        return parallel.run_blocks(job, total, work)


def _one_blas_thread():
    """A context holding NumPy's BLAS at one thread (nothing to hold without threadpoolctl)."""
    if not _blas:
        try:
            from threadpoolctl import ThreadpoolController
            _blas.append(ThreadpoolController().select(user_api="blas"))
        except ImportError:
            _blas.append(None)
    return contextlib.nullcontext() if _blas[0] is None else _blas[0].limit(limits=1)
