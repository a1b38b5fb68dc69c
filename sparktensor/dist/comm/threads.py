"""The in-process transport (one queue per pair of ranks) and ``run_threads``, which runs a gang on threads.

Used by unit tests and by ``LocalEngine.run_gang(mode="threads")``: the same collectives as across
processes, without sockets. When one rank fails, the others are released: their blocking calls raise
``CommError`` naming the failed rank instead of waiting for their timeout.
"""
import queue
import threading

import numpy as np

from .communicator import Communicator
from .errors import CommError
from .transport import DONE, Transport, remaining

_ABORT = object()  # put in every queue when a rank fails; stays there, so every later receive sees it
_CLOSED = object()  # put in the queues from a rank that closed its communicator


class ThreadHub:
    """The queues shared by the ranks of one in-process gang."""

    def __init__(self, world_size):
        self.world_size = world_size
        self.queues = [[queue.SimpleQueue() for _ in range(world_size)] for _ in range(world_size)]  # [dst][src]
        self.failed = None  # (rank, exception) of the first rank that failed

    def abort(self, rank, error):
        """Record that ``rank`` failed and wake every rank blocked in a receive."""
        if self.failed is None:
            self.failed = (rank, error)
        for row in self.queues:
            for q in row:
                q.put(_ABORT)


class ThreadTransport(Transport):
    """One rank's end of a ``ThreadHub``; ``post`` copies the array, so it never waits."""

    def __init__(self, hub, rank):
        super().__init__(rank, hub.world_size)
        self.hub = hub
        self.closed = False

    def post(self, dst, tag, array):
        self.check_peer(dst)
        self._check_open()
        self.hub.queues[dst][self.rank].put((tag, np.array(array, copy=True)))
        return DONE

    def _next(self, src, deadline):
        self.check_peer(src)
        self._check_open()
        q = self.hub.queues[self.rank][src]
        try:
            item = q.get(timeout=remaining(deadline, self.rank, src))
        except queue.Empty:
            raise CommError(f"rank {self.rank} timed out waiting for a message from rank {src}") from None
        if item is _CLOSED:
            q.put(_CLOSED)
            raise CommError(f"rank {src} closed its communicator while rank {self.rank} waited for a message from it")
        if item is _ABORT:
            q.put(_ABORT)
            rank, error = self.hub.failed
            raise CommError(f"rank {rank} failed ({type(error).__name__}: {error}); rank {self.rank} "
                            f"stopped waiting for rank {src}")
        return item

    def _check_open(self):
        if self.closed:
            raise CommError(f"rank {self.rank}: the communicator is closed")

    def close(self):
        if not self.closed:
            self.closed = True
            for dst in range(self.world_size):
                self.hub.queues[dst][self.rank].put(_CLOSED)


def run_threads(fn, world_size, *args, timeout=60.0):
    """Run ``fn(comm, *args)`` on ``world_size`` threads, each with its own ``Communicator``; results in rank order.

    An exception in any rank is re-raised here (with a note naming the rank) after the other ranks were
    released; the first rank to fail is the one reported, since the others fail because of it.
    """
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    hub = ThreadHub(world_size)
    results = [None] * world_size
    failures = []  # (rank, exception), in the order they happened
    lock = threading.Lock()

    def body(rank):
        comm = Communicator(ThreadTransport(hub, rank), timeout=timeout)
        try:
            results[rank] = fn(comm, *args)
        except BaseException as e:  # noqa: BLE001 - every failure must release the other ranks
            with lock:
                failures.append((rank, e))
            hub.abort(rank, e)
        finally:
            comm.close()

    threads = [threading.Thread(target=body, args=(rank,), name=f"sparktensor-rank-{rank}", daemon=True)
               for rank in range(world_size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        rank, error = failures[0]
        error.add_note(f"raised on rank {rank} of a gang of {world_size} threads")
        raise error
    return results
