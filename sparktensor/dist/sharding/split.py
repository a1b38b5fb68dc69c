"""How one axis is cut among the M ranks of a model group, and how the pieces join again.

Every cut follows ``np.array_split``: with ``n`` units over ``M`` ranks, the first ``n % M`` ranks get one unit
more. The communicator's ``reduce_scatter`` cuts the same way, so a piece made here, a piece a collective
hands back and a gradient slice taken in a backward always agree.

``take`` of a deferred array (``nn.init.deferred_init``) makes only the piece, chunk by chunk, with the bits
the whole array would have had: a rank never holds the whole weight matrix.
"""
from collections import namedtuple

import numpy as np

from ...nn import init


def bounds(size, rank, world_size):
    """``(start, stop)`` of ``rank``'s part of ``size`` units, as ``np.array_split`` cuts them."""
    base, extra = divmod(int(size), int(world_size))
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def normalize_axis(axis, ndim, what):
    """``axis`` as a non-negative index into ``ndim`` axes, or an error naming ``what``."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for an array with {ndim} axes")
    return axis % ndim


class Split(namedtuple("Split", "axis groups unit")):
    """A parameter cut along ``axis`` among the ranks.

    The axis holds ``groups`` equal blocks (the four gates i, f, g, o of an LSTM weight: 4; otherwise 1), each a
    run of units of ``unit`` consecutive entries that stay together (the H*W features of one channel after
    ``Flatten``: H*W; otherwise 1). Every rank takes its ``bounds`` of the units of every block.
    """

    def __new__(cls, axis, groups=1, unit=1):
        return super().__new__(cls, int(axis), int(groups), int(unit))

    def _blocked(self, array):
        """``array`` with ``axis`` reshaped into (groups, units, unit); returns it and the units axis."""
        axis = normalize_axis(self.axis, array.ndim, "Split")
        size = array.shape[axis]
        if size % (self.groups * self.unit):
            raise ValueError(f"axis {axis} of size {size} does not hold {self.groups} block(s) of whole units of "
                             f"{self.unit}")
        shape = array.shape[:axis] + (self.groups, -1, self.unit) + array.shape[axis + 1:]
        return array.reshape(shape), axis + 1

    def units(self, size):
        """The units of one block along an axis of ``size`` entries."""
        return size // (self.groups * self.unit)

    def ranges(self, size, rank, world_size):
        """``[(start, stop), ...]``: the entries of ``rank``'s piece along an axis of ``size`` entries, in order."""
        units = self.units(size)
        start, stop = bounds(units, rank, world_size)
        block = size // self.groups
        return [(g * block + start * self.unit, g * block + stop * self.unit) for g in range(self.groups)]

    def take(self, full, rank, world_size):
        """``rank``'s piece of the whole array ``full`` (a new contiguous array); of a deferred array, only the
        piece is made."""
        if init.is_deferred(full):
            axis = normalize_axis(self.axis, full.ndim, "Split")
            if full.shape[axis] % (self.groups * self.unit):
                raise ValueError(f"axis {axis} of size {full.shape[axis]} does not hold {self.groups} block(s) of "
                                 f"whole units of {self.unit}")
            return init.materialize(full, axis, self.ranges(full.shape[axis], rank, world_size))
        blocked, axis = self._blocked(full)
        start, stop = bounds(blocked.shape[axis], rank, world_size)
        piece = blocked[(slice(None),) * axis + (slice(start, stop),)]
        return piece.reshape(self._merged_shape(piece.shape, axis)).copy()  # a copy even when it is all of it

    def join(self, pieces):
        """The whole array from every rank's piece, in rank order (no communication)."""
        blocked = [self._blocked(p) for p in pieces]
        axis = blocked[0][1]
        whole = np.concatenate([b for b, _ in blocked], axis=axis)
        return whole.reshape(self._merged_shape(whole.shape, axis))

    def gather(self, piece, comm):
        """The whole array on every rank of ``comm``: a collective that every rank calls with its own piece."""
        blocked, axis = self._blocked(piece)
        whole = comm.all_gather(np.ascontiguousarray(blocked), axis=axis)
        return whole.reshape(self._merged_shape(whole.shape, axis))

    @staticmethod
    def _merged_shape(shape, units_axis):
        groups, units, unit = shape[units_axis - 1:units_axis + 2]
        return shape[:units_axis - 1] + (groups * units * unit,) + shape[units_axis + 2:]
