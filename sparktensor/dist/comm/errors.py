"""``CommError``: the one error a communicator raises when a peer cannot be reached or heard from."""


class CommError(RuntimeError):
    """A peer died, closed its connection, timed out or refused us; the message names the peer's rank."""
