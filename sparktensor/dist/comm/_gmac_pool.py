"""The worker threads that tag a frame's pieces while the socket moves the others (``wire.py``).

A tagging job never waits for anything but the CPU (it tags bytes already in memory), so a few workers shared
by every connection of the process cannot deadlock: a job queued behind others only runs later.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_WORKERS = max(2, min(8, os.cpu_count() or 2))
_lock = threading.Lock()
_starting = threading.Lock()  # held by start_workers
_pool = None


def submit(fn, *args):
    """Run ``fn(*args)`` on a tagging worker; a ``concurrent.futures.Future`` of its result."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="sparktensor-frame-tags")
        return _pool.submit(fn, *args)


def start_workers():
    """Start every tagging worker now, each allocating once (before a cap on the process's address space: glibc
    reserves 64 MiB of it for each thread's malloc arena)."""
    barrier = threading.Barrier(_WORKERS)  # each job waits for the others, so each needs a worker of its own

    def touch_and_wait():
        bytearray(1 << 10)
        barrier.wait()
    with _starting:  # two callers at once would split the workers between two barriers
        for future in [submit(touch_and_wait) for _ in range(_WORKERS)]:
            future.result()


def _forget_after_fork():
    global _lock, _pool
    _lock, _pool = threading.Lock(), None  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_after_fork)
