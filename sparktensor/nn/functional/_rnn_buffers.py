"""What the recurrent layers' time loops share: reused work arrays, the order of the steps, and the masks of a
padded batch (the sequences already past their end)."""
import sys
import threading

import numpy as np

from ...backend import get_array_module


def _references(arrays, i):
    return sys.getrefcount(arrays[i])


class _Scratch(threading.local):
    """Large work arrays reused between calls (NumPy only): a fresh one page-faults on every 4 KiB it first touches."""

    smallest, most, limit = 1 << 18, 32, 1 << 26  # bytes, arrays, bytes

    def __init__(self):
        self.arrays = []

    def empty(self, xp, shape, dtype):
        """An uninitialized array: a free one of this shape and dtype from an earlier call, or a new one."""
        shape, dtype = tuple(shape), np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if xp is not np or not self.smallest <= nbytes <= self.limit:  # CuPy has its own memory pool
            return xp.empty(shape, dtype)
        arrays = self.arrays
        for i in range(len(arrays)):
            if arrays[i].shape == shape and arrays[i].dtype == dtype and _references(arrays, i) == _FREE:
                # only this list refers to it: no saved graph, output view or caller holds it any more
                arrays.append(arrays.pop(i))
                return arrays[-1]
        arrays.append(np.empty(shape, dtype))
        while len(arrays) > self.most or sum(a.nbytes for a in arrays) > self.limit:
            arrays.pop(0)
        return arrays[-1]


_FREE = _references([np.empty(0)], 0)
_scratch = _Scratch()


def _unpack(x):
    """A one-step call gives a 2-D input; treat it as a sequence of length one."""
    return x[None] if x.ndim == 2 else x


def _order(steps, reverse):
    """``(t, previous, next)`` state slots per step; slot 0 (or ``steps`` in reverse) holds the initial state."""
    if reverse:
        return [(t, t + 1, t) for t in range(steps - 1, -1, -1)]
    return [(t, t, t + 1) for t in range(steps)]


def _idle_rows(xp, steps, lengths):
    """Per step, an (N, 1) mask of the sequences already past their end, or None where every one is still running."""
    if lengths is None:
        return [None] * steps
    lengths = np.asarray(lengths)
    return [xp.asarray((t >= lengths)[:, None]) if (t >= lengths).any() else None for t in range(steps)]


def _hold(new, prev, idle):
    """A sequence past its end keeps its previous state."""
    if idle is not None:
        get_array_module(new).copyto(new, prev, where=idle)


def _pass_back(g, held, idle):
    """Past a sequence's end the state was only carried over: its gradient ``held`` goes back unchanged."""
    if idle is not None:
        get_array_module(g).copyto(g, held, where=idle)


def _no_gate_grad(da, idle):
    """No gate worked past a sequence's end, so its gate gradients are zero."""
    if idle is not None:
        get_array_module(da).copyto(da, 0, where=idle)
