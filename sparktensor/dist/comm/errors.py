"""``CommError``: the one error a communicator raises when a peer cannot be reached or heard from (``CommTimeout``
when it was only slow to answer: it may be hung, or waiting in turn for another rank; ``FrameIntegrityError``
when what it sent was not what arrived)."""


class CommError(RuntimeError):
    """A peer died, closed its connection, timed out or refused us; the message names the peer's rank."""


class CommTimeout(CommError):
    """No message from (or no progress sending to) ``peer`` within the communicator's timeout."""

    def __init__(self, message, peer=None):
        super().__init__(message)
        self.peer = peer


class FrameIntegrityError(CommError):
    """A frame from ``peer`` failed its tag check (changed, replayed, reordered or cut short): the connection is
    dropped and the frame's payload is never used."""

    def __init__(self, message, peer=None):
        super().__init__(message)
        self.peer = peer
