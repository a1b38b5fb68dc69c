"""``Transport``: moves whole arrays between the global ranks of one gang; ``Communicator`` builds on it.

A transport has two primitives, and the collectives are written once over them:

* ``post(dst, tag, array)``: start sending; returns a handle whose ``wait(timeout)`` returns once the
  transport no longer needs ``array`` (the caller must not change it before).
* ``recv(src, tag, timeout)``: the next array ``src`` posted under ``tag``, a new array the caller owns.

Messages between two ranks arrive in the order they were posted. Tags keep apart the messages of
different groups and of point-to-point traffic, so a message that arrives for another tag is kept
until it is asked for.
"""
import time
from collections import defaultdict, deque

from .errors import CommTimeout


class Done:
    """The handle of a post that needs nothing more (its data was already copied)."""

    def wait(self, timeout=None):
        return None


DONE = Done()


class Transport:
    """Base class: tag demultiplexing and deadlines; subclasses give ``post``, ``_next`` and ``close``."""

    def __init__(self, rank, world_size):
        self.rank = rank
        self.world_size = world_size
        self._early = defaultdict(deque)  # (src, tag) -> arrays that came before they were asked for

    def post(self, dst, tag, array):
        raise NotImplementedError

    def _next(self, src, deadline):
        """The next ``(tag, array)`` from ``src``; ``CommError`` when it does not come before ``deadline``."""
        raise NotImplementedError

    def recv(self, src, tag, timeout):
        """The next array from ``src`` under ``tag``."""
        early = self._early.get((src, tag))
        if early:
            return early.popleft()
        deadline = time.monotonic() + timeout
        while True:
            got_tag, array = self._next(src, deadline)
            if got_tag == tag:
                return array
            self._early[(src, got_tag)].append(array)

    def close(self):
        raise NotImplementedError

    def check_peer(self, peer):
        """Raise ``ValueError`` unless ``peer`` is another rank of this gang."""
        if not (isinstance(peer, int) and 0 <= peer < self.world_size):
            raise ValueError(f"rank {peer!r} is not a rank of this gang of {self.world_size}")


def remaining(deadline, me, peer, what="a message from"):
    """Seconds left before ``deadline``; ``CommTimeout`` naming the peer when none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise CommTimeout(f"rank {me} timed out waiting for {what} rank {peer}", peer)
    return left
