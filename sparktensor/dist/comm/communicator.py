"""``Communicator``: the collectives of one group of ranks, written once over a ``Transport``'s post/recv.

Every rank of a group calls the same collectives in the same order. Arrays are NumPy arrays (CuPy arrays
are copied to the host and the result copied back, unless the gang set up NCCL); inputs are never changed
and every call returns a new array. A rank's communicators (its whole-gang one and the groups made from it)
are used by one thread at a time.
"""
import numpy as np

from ...backend import device_of, to_device
from . import ring

_REDUCE = {"sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum}
_EMPTY = np.empty(0, np.uint8)


class Communicator:
    """One rank's view of a group: ``rank``, ``world_size``, ``ranks`` (global, in group order) and collectives.

    Args:
        transport: moves arrays between the global ranks of the gang (``ThreadTransport``, ``SocketTransport``).
        ranks: the global ranks of this group in group-rank order (all ranks of the transport by default).
        timeout: seconds a blocking call waits for a peer before raising ``CommError`` naming it.
        name: the group's tag on the wire; groups made by ``new_group`` get names derived from their parent's.
    """

    def __init__(self, transport, ranks=None, timeout=60.0, name="g"):
        self.transport = transport
        self.ranks = tuple(range(transport.world_size) if ranks is None else ranks)
        if transport.rank not in self.ranks:
            raise ValueError(f"global rank {transport.rank} is not a member of the group {self.ranks}")
        self.rank = self.ranks.index(transport.rank)
        self.world_size = len(self.ranks)
        self.timeout = float(timeout)
        self.bytes_sent = 0
        self.nccl = None  # set by the gang when CUDA arrays can go through NCCL (see nccl.py)
        self._name = name
        self._groups_made = 0
        self._owns_transport = ranks is None

    # ----- collectives -----
    def all_reduce(self, array, op="sum"):
        """The elementwise ``op`` ("sum", "mean", "max", "min") of ``array`` over all ranks, on every rank."""
        reduce = _reduce_op(op)
        if self._use_nccl(array):
            return self.nccl.all_reduce(array, op)
        x, device = self._host(array, "all_reduce")
        chunks = [np.ascontiguousarray(c) for c in np.array_split(x.reshape(-1), self.world_size)]
        mine = ring.reduce_scatter(self, chunks, reduce)
        result = np.concatenate(ring.all_gather(self, mine)).reshape(x.shape)
        return self._back(_finish(result, op, self.world_size), device)

    def all_gather(self, array, axis=0):
        """Every rank's ``array`` concatenated along ``axis`` in rank order (0-d arrays: stacked into 1-d)."""
        x, device = self._host(array, "all_gather")
        if x.ndim == 0:
            x = x.reshape(1)
        axis = _axis(axis, x.ndim, "all_gather")
        pieces = ring.all_gather(self, np.ascontiguousarray(x))
        for peer, piece in enumerate(pieces):
            _check_gatherable(self.rank, x, peer, piece, axis)
        return self._back(np.concatenate(pieces, axis=axis), device)

    def reduce_scatter(self, array, op="sum", axis=0):
        """This rank's piece of ``np.array_split(all_reduce(array, op), world_size, axis)``."""
        reduce = _reduce_op(op)
        x, device = self._host(array, "reduce_scatter")
        if x.ndim == 0:
            raise ValueError("reduce_scatter needs an array of at least one dimension to split, got a 0-d array")
        axis = _axis(axis, x.ndim, "reduce_scatter")
        chunks = [np.ascontiguousarray(c) for c in np.array_split(x, self.world_size, axis=axis)]
        mine = ring.reduce_scatter(self, chunks, reduce)
        return self._back(_finish(mine, op, self.world_size), device)

    def broadcast(self, array, root=0):
        """``root``'s array on every rank (the others may pass None), sent down a binomial tree."""
        _check_rank(root, self.world_size, "broadcast root")
        device = "cpu"
        if self.rank == root:
            x, device = self._host(array, "broadcast")
            x = np.array(x, copy=True)
        elif array is not None:
            device = device_of(array)
        relative = (self.rank - root) % self.world_size
        mask = 1
        while mask < self.world_size:  # ranks [0, mask) hold the data; each sends to its partner in [mask, 2 mask)
            if relative < mask and relative + mask < self.world_size:
                self._post((relative + mask + root) % self.world_size, x).wait(self.timeout)
            elif mask <= relative < 2 * mask:
                x = self._recv((relative - mask + root) % self.world_size)
            mask <<= 1
        return self._back(x, device)

    def barrier(self):
        """Return once every rank of the group has called ``barrier`` (dissemination: log2(n) rounds)."""
        distance = 1
        while distance < self.world_size:
            sent = self._post((self.rank + distance) % self.world_size, _EMPTY)
            self._recv((self.rank - distance) % self.world_size)
            sent.wait(self.timeout)
            distance <<= 1

    # ----- point to point -----
    def send(self, array, dst):
        """Send a copy of ``array`` to group rank ``dst``; returns without waiting for ``dst`` to receive it."""
        _check_rank(dst, self.world_size, "send destination")
        x, _ = self._host(array, "send")
        self._post(dst, np.array(x, copy=True), point_to_point=True)

    def recv(self, src):
        """The next array group rank ``src`` sent with ``send`` (its shape and dtype travel with it)."""
        _check_rank(src, self.world_size, "recv source")
        return self._recv(src, point_to_point=True)

    # ----- groups -----
    def new_group(self, ranks):
        """A ``Communicator`` over ``ranks`` (ranks of this group, in the new group's order), or None on others.

        Collective over this group: every member calls it, with the same list (checked).
        """
        members = [int(r) for r in ranks]
        for r in members:
            _check_rank(r, self.world_size, "new_group member")
        if not members or len(set(members)) != len(members):
            raise ValueError(f"new_group needs a non-empty list of distinct ranks, got {list(ranks)}")
        lists = ring.all_gather(self, np.asarray(members, np.int64))
        for peer, listed in enumerate(lists):
            if listed.tolist() != members:
                raise ValueError(f"new_group: rank {peer} passed {listed.tolist()} but rank {self.rank} passed "
                                 f"{members}; every rank must pass the same list")
        self._groups_made += 1
        name = f"{self._name}.{self._groups_made}"
        if self.rank not in members:
            return None
        group = Communicator(self.transport, [self.ranks[r] for r in members], self.timeout, name)
        group.nccl = self.nccl.new_group(members) if self.nccl is not None else None
        return group

    def close(self):
        """Close the connections (only the gang's whole-world communicator owns them)."""
        if self._owns_transport:
            self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"Communicator(rank={self.rank}, world_size={self.world_size}, ranks={self.ranks})"

    # ----- the two primitives every collective uses (group ranks) -----
    def _post(self, peer, array, point_to_point=False):
        self.bytes_sent += array.nbytes
        tag = self._name + ":p" if point_to_point else self._name
        return self.transport.post(self.ranks[peer], tag, array)

    def _recv(self, peer, point_to_point=False):
        tag = self._name + ":p" if point_to_point else self._name
        return self.transport.recv(self.ranks[peer], tag, self.timeout)

    def _host(self, array, what):
        """``array`` as a NumPy array, and the device to give the result back on."""
        if array is None:
            raise ValueError(f"{what}: expected an array, got None")
        device = device_of(array)
        x = to_device(array, "cpu") if device != "cpu" else np.asarray(array)
        if x.dtype.kind not in "biufc":
            raise ValueError(f"{what}: cannot send an array of dtype {x.dtype}; only bool, integer, float and "
                             f"complex arrays travel between ranks")
        return x, device

    def _back(self, x, device):
        return x if device == "cpu" else to_device(x, device)

    def _use_nccl(self, array):
        return self.nccl is not None and device_of(array) != "cpu"


def _reduce_op(op):
    try:
        return _REDUCE[op]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reduction {op!r}: expected one of {sorted(_REDUCE)}") from None


def _finish(total, op, world_size):
    """The mean from the sum (integers give float64, as ``np.mean`` does); other ops as they are."""
    return np.true_divide(total, world_size) if op == "mean" else total


def _axis(axis, ndim, what):
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis!r} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def _check_rank(rank, world_size, what):
    if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or not 0 <= rank < world_size:
        raise ValueError(f"{what} {rank!r} is not a rank of this group of {world_size}")


def _check_gatherable(rank, mine, peer, piece, axis):
    other = lambda shape: shape[:axis] + shape[axis + 1:]  # noqa: E731
    if piece.ndim != mine.ndim or other(piece.shape) != other(mine.shape) or piece.dtype != mine.dtype:
        raise ValueError(f"all_gather along axis {axis}: rank {peer} passed shape {piece.shape} dtype {piece.dtype}, "
                         f"rank {rank} passed shape {mine.shape} dtype {mine.dtype}; only the size along the "
                         f"axis may differ")
