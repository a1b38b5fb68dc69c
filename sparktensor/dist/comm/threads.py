"""The in-process transport (one queue per pair of ranks) and ``run_threads``, which runs a gang on threads.

Used by unit tests and by ``LocalEngine.run_gang(mode="threads")``: the same collectives as across
processes, without sockets. When one rank fails, the others are released: their blocking calls raise
``CommError`` naming the failed rank instead of waiting for their timeout.
"""
import queue
import threading
import time

import numpy as np

from .communicator import Communicator
from .errors import CommError, CommTimeout
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
            raise CommTimeout(f"rank {self.rank} timed out waiting for a message from rank {src}", src) from None
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
    released; the first rank to fail is the one reported, since the others fail because of it. Once a rank
    has returned or failed, the others get ``timeout`` seconds more: threads still running then are reported
    as hung (``GangError``) and left behind as daemons (a thread cannot be killed).
    """
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    hub = ThreadHub(world_size)
    results = [None] * world_size
    failures = []  # (rank, exception), in the order they happened
    lock = threading.Lock()
    finished = queue.Queue()

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
            finished.put(rank)

    threads = [threading.Thread(target=body, args=(rank,), name=f"sparktensor-rank-{rank}", daemon=True)
               for rank in range(world_size)]
    for thread in threads:
        thread.start()
    first = finished.get()  # no deadline before the first rank is done: a gang may train for hours
    done, stop_at = {first}, time.monotonic() + timeout
    while len(done) < world_size:
        try:
            done.add(finished.get(timeout=max(0.0, stop_at - time.monotonic())))
        except queue.Empty:
            break
    with lock:
        own = [(rank, e) for rank, e in failures if not isinstance(e, CommError)]
        hung = sorted(set(range(world_size)) - done)
        if failures and (own or not hung):
            rank, error = (own or failures)[0]
            error.add_note(f"raised on rank {rank} of a gang of {world_size} threads")
            raise error
    if hung:
        from ..engines.gang import hung_error
        raise hung_error(hung, world_size, timeout, first, any(rank == first for rank, _ in failures))
    return results
