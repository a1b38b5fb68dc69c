"""``start_collective``: a collective on a background thread, while the caller computes what does not need it.

NumPy's matrix products release the GIL, so the communicator's threads move the bytes beside them. A
communicator is used by one thread at a time: a rank has at most one background collective under way on it,
and joins it (``result()``) before its next collective there (a second start raises).
"""
import threading

import numpy as np

_under_way = set()  # ids of the communicators with a background collective not yet joined


class PendingCollective:
    """A collective running on a background thread; ``result()`` waits for it and returns its result."""

    def __init__(self, comm, what, x, kwargs):
        self.comm, self._result, self._error = comm, None, None
        if id(comm) in _under_way:
            raise RuntimeError(f"rank {comm.rank}: a collective is already under way on {comm!r}; join it "
                               f"(result()) before starting the next one")
        _under_way.add(id(comm))
        self._thread = threading.Thread(target=self._run, args=(getattr(comm, what), x, kwargs),
                                        name=f"sparktensor-{what}", daemon=True)
        self._thread.start()

    def _run(self, collective, x, kwargs):
        try:
            self._result = collective(x, **kwargs)
        except BaseException as e:  # noqa: BLE001 - raised again, on the caller's thread, by result()
            self._error = e

    def result(self):
        """The collective's result (its error, if it failed)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
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

    With one rank, or an array that is not a NumPy array (a GPU array: NCCL and the copies to the host keep to
    the calling thread), the collective runs at once.
    """
    if comm.world_size == 1 or type(x) is not np.ndarray:
        return _Done(getattr(comm, what)(x, **kwargs))
    return PendingCollective(comm, what, x, kwargs)
