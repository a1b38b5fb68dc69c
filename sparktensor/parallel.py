"""Intra-op threads: NumPy work that releases the GIL, split over a small pool of threads.

NumPy's ufuncs, copies and reductions run on one core while its BLAS runs on several; large elementwise work,
window copies and optimizer updates are split into blocks over ``get_num_threads()`` threads instead, as
PyTorch's intra-op pool does. ``set_num_threads(n)`` sets this pool and NumPy's BLAS together (like
``torch.set_num_threads``).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_threads = None
_pool = None

#: below this many elements (or element-sized units of work) a job runs on the calling thread
MIN_PARALLEL_WORK = 1 << 16


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads():
    """Threads sparktensor's intra-op work uses (default: the cores this process may run on)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_num_threads(n):
    """Use ``n`` threads for intra-op work and for NumPy's BLAS (where threadpoolctl is installed)."""
    global _threads, _pool
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads needs a positive int, got {n!r}")
    with _lock:
        _threads = n
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n, user_api="blas")


def _executor():
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=get_num_threads(), thread_name_prefix="sparktensor-intra-op")
        return _pool


def blocks(total, work=None, threads=None):
    """``[(start, stop), ...]``: ``range(total)`` cut into at most ``threads`` blocks of about equal size, one
    block when ``work`` (default ``total``) is below ``MIN_PARALLEL_WORK`` or one thread is set."""
    threads = get_num_threads() if threads is None else threads
    work = total if work is None else work
    count = max(1, min(threads, total, work // MIN_PARALLEL_WORK))
    edges = [total * i // count for i in range(count + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_blocks(job, total, work=None):
    """Call ``job(start, stop)`` on each of ``blocks(total, work)``, the first on this thread and the rest on the
    pool; returns their results in order. The first exception a block raises is raised here."""
    parts = blocks(total, work)
    if len(parts) == 1:
        return [job(*parts[0])]
    futures = [_executor().submit(job, a, b) for a, b in parts[1:]]
    first = job(*parts[0])
    return [first] + [f.result() for f in futures]
