"""``start_collective``: a collective on a background thread, while the caller computes what does not need it.

Each communicator gets one worker thread, on first use, that lives as long as the communicator.

NumPy's matrix products release the GIL, so the communicator's threads move the bytes beside them. A
communicator is used by one thread at a time: a rank has at most one background collective under way on it,
and joins it (``result()``) before its next collective there (a second start raises).
"""
import queue
import threading
import weakref

import numpy as np

MIN_BYTES = 256 << 10  # smaller arrays are sent at once: a thread's hand-off would cost about what it hides
_under_way = set()  # ids of the communicators with a background collective not yet joined
_workers = weakref.WeakKeyDictionary()  # communicator -> its worker's job queue


def _work(jobs):
    """A communicator's worker: runs the collectives it is given, one at a time, until told to stop (None)."""
    while (job := jobs.get()) is not None:
        job.run()
        del job  # hold no communicator between jobs: the worker ends when its communicator is collected


def _start_worker():
    jobs = queue.SimpleQueue()
    threading.Thread(target=_work, args=(jobs,), name="sparktensor-collectives", daemon=True).start()
    return jobs


def start_worker(comm):
    """Start ``comm``'s worker thread now rather than at its first background collective (before a cap on the
    process's address space: each thread's stack and malloc arena take some of it)."""
    class Touch:
        def __init__(self):
            self.done = threading.Event()

        def run(self):
            np.empty(1)  # the thread's first allocation: glibc gives it its malloc arena now
            self.done.set()
    touch = Touch()
    _submit(comm, touch)
    touch.done.wait()


def _submit(comm, job):
    """Queue ``job`` for ``comm``'s worker (a worker for this job alone if ``comm`` takes no weak references)."""
    try:
        jobs = _workers.get(comm)
    except TypeError:
        jobs = _start_worker()
        jobs.put(job)
        jobs.put(None)
        return
    if jobs is None:
        jobs = _workers[comm] = _start_worker()
        weakref.finalize(comm, jobs.put, None)
    jobs.put(job)


class PendingCollective:
    """A collective running on the communicator's worker thread; ``result()`` waits for it and returns it."""

    def __init__(self, comm, what, x, kwargs):
        if id(comm) in _under_way:
            raise RuntimeError(f"rank {comm.rank}: a collective is already under way on {comm!r}; join it "
                               f"(result()) before starting the next one")
        _under_way.add(id(comm))
        self.comm, self._call, self._result, self._error = comm, (getattr(comm, what), x, kwargs), None, None
        self._done = threading.Event()
        self._joined = False
        _submit(comm, self)

    def run(self):
        collective, x, kwargs = self._call
        self._call = None
        try:
            self._result = collective(x, **kwargs)
        except BaseException as e:  # noqa: BLE001 - raised again, on the caller's thread, by result()
            self._error = e
        finally:
            self._done.set()

    def result(self):
        """The collective's result (its error, if it failed)."""
        if not self._joined:
            self._done.wait()
            self._joined = True
            _under_way.discard(id(self.comm))
        if self._error is not None:
            raise self._error
        return self._result


class _Done:
    """A collective that ran at once."""

    def __init__(self, result):
        self._result = result

    def result(self):
        return self._result


def start_collective(comm, what, x, **kwargs):
    """Start ``comm.<what>(x, **kwargs)`` ("all_reduce", "all_gather", "reduce_scatter"); ``.result()`` of the
    returned handle gives its result. Call it before any other collective on ``comm``.

    With one rank, an array under ``MIN_BYTES``, or one that is not a NumPy array (a GPU array: NCCL and the
    copies to the host keep to the calling thread), the collective runs at once. (So small models start no
    thread: a new thread's stack and malloc arena reserve address space, which a rank under
    ``HybridTrainer(memory_limit=...)`` may not have.)
    """
    if comm.world_size == 1 or type(x) is not np.ndarray or x.nbytes < MIN_BYTES:
        return _Done(getattr(comm, what)(x, **kwargs))
    return PendingCollective(comm, what, x, kwargs)
