"""The LSTM time loop split over the intra-op threads by hidden units, BLAS on one thread in each.

Each thread owns a contiguous block of hidden units: the rows of its units' four gates (made contiguous by a
row order of the weights, ``gate_rows``), their recurrent product and their cell update; the threads meet once
per step, when every unit's new state (forward) or gate gradient (backward) is there. OpenBLAS's own threads
gain little on the (4H, H) @ (H, N) product of one step at a small batch and wait long on a busy machine, but on
a quiet 2-core machine they did better than this split (2-layer LSTM 256, batch 32, 2 threads: 53 against 75 ms a
step, interleaved), so the split is off unless ``SPLIT_BY_UNITS`` is set.
"""
import threading

import numpy as np

from ... import parallel

#: whether large steps are split by hidden units at all (off: measured slower than OpenBLAS's threads when quiet)
SPLIT_BY_UNITS = False
#: multiply-adds of one step's recurrent product below which the loop stays on one thread
MIN_STEP_MACS = 1 << 22
#: fewest hidden units a block gets
MIN_BLOCK_UNITS = 32

_blas = []


def unit_blocks(xp, hidden, batch):
    """How many blocks of hidden units the loop runs on: one per intra-op thread for large NumPy steps, else 1."""
    threads = parallel.get_num_threads()
    if not SPLIT_BY_UNITS or xp is not np or threads == 1 or 4 * hidden * hidden * batch < MIN_STEP_MACS or _controller() is None:
        return 1
    return max(1, min(threads, hidden // MIN_BLOCK_UNITS))


def gate_rows(hidden, blocks):
    """Row order of the (4H, ...) gate arrays: per block of units, its i, f, g and o rows; None for one block."""
    if blocks == 1:
        return None
    edges = [hidden * k // blocks for k in range(blocks + 1)]
    return np.concatenate([np.arange(gate * hidden + a, gate * hidden + b)
                           for a, b in zip(edges[:-1], edges[1:]) for gate in range(4)])


def unit_slices(hidden, blocks):
    """The hidden units of each block, as slices."""
    edges = [hidden * k // blocks for k in range(blocks + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def run_in_blocks(step_job, blocks, steps):
    """``step_job(block, i)`` for every block and the i-th of ``steps``: blocks in parallel (one thread each,
    BLAS held at one thread), all blocks done with step i before any starts step i + 1."""
    work = blocks * parallel.MIN_PARALLEL_WORK
    parts = parallel.blocks(blocks, work)
    if len(parts) == 1:
        for i in range(steps):
            for block in range(blocks):
                step_job(block, i)
        return
    barrier = threading.Barrier(len(parts))

    def job(start, stop):
        try:
            for i in range(steps):
                for block in range(start, stop):
                    step_job(block, i)
                barrier.wait()
        except BaseException:
            barrier.abort()  # the other threads stop waiting for this one
            raise
    with _controller().limit(limits=1):  # BLAS on one thread in each
        parallel.run_blocks(job, blocks, work)


def _controller():
    """threadpoolctl's handle on NumPy's BLAS, or None without threadpoolctl."""
    if not _blas:
        try:
            from threadpoolctl import ThreadpoolController
            _blas.append(ThreadpoolController().select(user_api="blas"))
        except ImportError:
            _blas.append(None)
    return _blas[0]
