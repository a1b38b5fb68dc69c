"""Intra-op threads: NumPy work that releases the GIL, split over a small pool of threads.

NumPy's ufuncs, copies and reductions run on one core while its BLAS runs on several; large elementwise work,
window copies and optimizer updates are split into blocks over ``get_num_threads()`` threads instead, as
PyTorch's intra-op pool does. ``set_num_threads(n)`` sets this pool and NumPy's BLAS together (like
``torch.set_num_threads``).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_lock = threading.Lock()
_starting = threading.Lock()  # held by start_threads
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


def _touch_and_wait(barrier):
    np.empty(1)  # the thread's first allocation: glibc gives it its malloc arena now
    barrier.wait()


def start_threads():
    """Start every thread of the intra-op pool now, each allocating once (a process about to cap its address
    space starts them before the cap: glibc reserves 64 MiB of address space for each thread's malloc arena)."""
    with _starting:  # two callers at once would split the pool's threads between two barriers
        n = get_num_threads()
        barrier = threading.Barrier(n)  # each task waits for the others, so each needs a thread of its own
        for future in [_executor().submit(_touch_and_wait, barrier) for _ in range(n)]:
            future.result()


def _forget_after_fork():
    global _lock, _pool
    _lock, _pool = threading.Lock(), None  # a forked child (a DataLoader or Spark worker) has none of the threads


os.register_at_fork(after_in_child=_forget_after_fork)


def blocks(total, work=None, threads=None):
    """``[(start, stop), ...]``: ``range(total)`` cut into at most ``threads`` blocks of about equal size, one
    block when ``work`` (default ``total``) is below ``MIN_PARALLEL_WORK`` or one thread is set."""
    threads = get_num_threads() if threads is None else threads
    work = total if work is None else work
    if total <= 0:
        return [(0, 0)]  # one empty block: a job over nothing still runs once, as on one thread
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


def run_shared(job, total, work=None, min_work=None):
    """Call ``job(start, stop)`` on each of a few blocks per thread of ``range(total)`` (one block when ``work``,
    default ``total``, is below ``min_work``, default ``MIN_SHARED_WORK``), for independent blocks only: this
    thread and the pool's take the next block until none is left, so that a pool thread the machine starts late
    finds less to do (or nothing) instead of being waited for; returns the results in block order.

    Unlike ``run_blocks``, blocks may run one after another on one thread: no block may wait for another."""
    threads = get_num_threads()
    work = total if work is None else work
    min_work = MIN_SHARED_WORK if min_work is None else min_work
    parts = blocks(total, work, threads * _PARTS_PER_THREAD) if threads > 1 and work >= min_work else [(0, total)]
    if len(parts) == 1:
        return [job(*parts[0])]
    results = [None] * len(parts)
    order = iter(range(len(parts)))
    lock = threading.Lock()

    def take():
        while True:
            with lock:
                i = next(order, None)
            if i is None:
                return
            results[i] = job(*parts[i])
    futures = [_executor().submit(take) for _ in range(min(threads, len(parts)) - 1)]
    try:
        take()
    finally:
        for f in futures:
            if not f.cancel():  # a pool thread that has not started by now has nothing left to do
                f.result()
    return results


#: blocks per thread in ``run_shared``: enough that an early thread can take over a late one's share
_PARTS_PER_THREAD = 4

#: below this much work ``run_shared`` stays on the calling thread. Its jobs are sequences of short NumPy calls,
#: and the GIL changes hands at each one: on the 2-core machine under load, splitting the SGD update of the
#: 669K-parameter MLP made its 2-thread step slower (median 45 against 12 ms, fastest tenth 15 against 11.5 ms)
MIN_SHARED_WORK = 1 << 23


#: elements of each array that a chunked update touches at a time: the few arrays of an optimizer update stay
#: in the core's L2 cache across its several passes (larger chunks run no faster, smaller ones pay more calls)
CHUNK = 1 << 16


def update_in_chunks(update, items, scratch=0, chunk=CHUNK):
    """Run an elementwise in-place ``update`` over cache-sized pieces of several arrays, split over the threads.

    ``items`` is a list of ``(arrays, args)``: same-shaped arrays (say a weight, its gradient and its momentum)
    and plain values for them. ``update(*pieces, *tmps, *args)`` gets matching flat slices of the arrays and
    ``scratch`` temporary arrays of the same size (dtype of the first array), and must write its results into the
    slices. Items whose arrays are not all C-contiguous NumPy arrays (CuPy arrays, strided views) are updated
    whole on this thread. An elementwise update gives the same bits however it is cut.
    """
    flat = []
    for arrays, args in items:
        if all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays):
            flat.append((tuple(a.reshape(-1) for a in arrays), args))
        else:
            first = arrays[0]
            update(*arrays, *(_empty_like(first) for _ in range(scratch)), *args)
    if not flat:
        return
    offsets = [0]
    for arrays, _ in flat:
        offsets.append(offsets[-1] + arrays[0].size)

    def job(start, stop):
        tmps = {}
        for (arrays, args), offset, end in zip(flat, offsets, offsets[1:]):
            lo, hi = max(start, offset) - offset, min(stop, end) - offset
            dtype = arrays[0].dtype
            if hi <= lo:
                continue
            if dtype not in tmps:
                tmps[dtype] = [np.empty(min(chunk, stop - start), dtype) for _ in range(scratch)]
            for a in range(lo, hi, chunk):
                b = min(a + chunk, hi)
                update(*(x[a:b] for x in arrays), *(t[:b - a] for t in tmps[dtype]), *args)
    run_shared(job, offsets[-1], offsets[-1] * max(1, len(flat[0][0])))


def _empty_like(x):
    from .backend import get_array_module
    return get_array_module(x).empty_like(x)


@contextmanager
def limited_threads(n):
    """Within the block, intra-op work uses at most ``n`` threads (BLAS is left as it is): for ranks that share
    the cores of one machine."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"limited_threads needs a positive int, got {n!r}")
    before = get_num_threads()
    _threads = min(before, n)
    try:
        yield
    finally:
        _threads = before


_blas_controllers = []


def _blas_controller():
    """threadpoolctl's handle on the BLAS libraries loaded in this process (None without threadpoolctl)."""
    if not _blas_controllers:
        try:
            from threadpoolctl import ThreadpoolController
            _blas_controllers.append(ThreadpoolController())  # scanning the loaded libraries once per process
        except ImportError:
            _blas_controllers.append(None)
    return _blas_controllers[0]


@contextmanager
def task_threads(n):
    """Within the block, both NumPy's BLAS (where threadpoolctl is installed) and intra-op work use at most ``n``
    threads: for a task or rank that shares the machine's cores with others. Two LeNet-5 workers on a 2-core
    machine with two intra-op threads each hand work to a thread whose core the other worker holds."""
    controller = _blas_controller()
    with limited_threads(max(1, n)):
        if controller is None:
            yield
        else:
            with controller.limit(limits=max(1, n), user_api="blas"):
                yield


def map_flat(fn, out, *arrays):
    """``fn(out_piece, *pieces)`` over flat blocks of ``out`` and same-shaped ``arrays``, split over the threads
    when they are large C-contiguous NumPy arrays (else one call on the whole arrays); returns ``out``."""
    if out.size < 2 * MIN_PARALLEL_WORK or get_num_threads() == 1 or type(out) is not np.ndarray or not all(
            type(a) is np.ndarray and a.flags.c_contiguous and a.shape == out.shape for a in (out,) + arrays):
        fn(out, *arrays)
        return out
    flat = [a.reshape(-1) for a in (out,) + arrays]
    # one NumPy call a block: the GIL changes hands once a block, so smaller arrays pay already
    run_shared(lambda start, stop: fn(*(a[start:stop] for a in flat)), out.size, min_work=2 * MIN_PARALLEL_WORK)
    return out
