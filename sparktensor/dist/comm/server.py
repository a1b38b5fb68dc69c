"""``MessageServer``: one listening socket on the driver whose connections prove the job's key, then send arrays.

Every connection is served on its own thread: the peer proves it holds the key (``auth``), then sends
``wire`` messages, each handed to ``handle(sock, tag, array)`` until the peer closes the connection. A frame
that fails its tag (``frames``) drops the connection with a warning, and is never handled. The
driver channel of the data-parallel trainers and the inbox of a hybrid gang are both such servers.
"""
import logging
import socket
import threading

from . import auth
from .auth import check_key, new_key, server_handshake
from .listening import accept_connections, peer_name
from .wire import read_message

log = logging.getLogger("sparktensor.dist")
DRIVER, ANY_PEER = 0, 1 << 30  # the driver's rank in the handshake, and the bound on the peers' ranks


class MessageServer:
    """Listen on ``host`` (a free port; ``address`` says which) for peers holding ``key`` (a new random one by
    default). Subclasses set their own state, then call this ``__init__``, and define ``handle``.

    Args:
        host: the address peers reach the driver at.
        name: the server's name in its thread and its warnings.
        peer: what a peer is, in error messages ("a task", "a rank").
        timeout: seconds an authenticated connection may stall before it is dropped.
        handshake_timeout: seconds a new connection has to prove the key (default ``auth.HANDSHAKE_TIMEOUT``).
        max_unauthenticated: connections still proving the key at once (default ``auth.MAX_UNAUTHENTICATED``);
            any more are closed as soon as they are accepted.
    """

    def __init__(self, host, name, peer, timeout=300.0, key=None, handshake_timeout=None, max_unauthenticated=None):
        self.key = new_key() if key is None else check_key(key)
        self.name, self.peer, self.timeout = name, peer, timeout
        self.handshake_timeout = auth.HANDSHAKE_TIMEOUT if handshake_timeout is None else handshake_timeout
        self._unauthenticated = threading.BoundedSemaphore(max_unauthenticated or auth.MAX_UNAUTHENTICATED)
        self._server = socket.create_server((host, 0))
        self.address = (host, self._server.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name=f"sparktensor-{name.replace(' ', '-')}", daemon=True).start()

    def handle(self, sock, tag, array):
        """One message of a connection (may answer on ``sock``); raise to drop the connection."""
        raise NotImplementedError

    def opened(self, sock):
        """A connection was accepted (before its handshake)."""

    def key_for(self, peer):
        """The key a connection claiming to be ``peer`` must prove (None: refuse it); the server's key here."""
        return self.key

    def authenticated(self, sock, peer):
        """A connection proved the key of ``peer`` (before its first message)."""

    def finished(self, sock):
        """A connection reached its end (closed by the peer, or dropped)."""

    def close(self):
        """Stop listening (connections being served finish on their own)."""
        self._closed = True
        self._server.close()

    def _accept(self):
        accept_connections(self._server, lambda: self._closed, self.name, self._unauthenticated, self._serve,
                           accepted=self.opened)

    def _serve(self, sock):
        try:
            try:
                sock.settimeout(self.handshake_timeout)
                peer = server_handshake(sock, self.key_for, DRIVER, ANY_PEER)
            finally:
                self._unauthenticated.release()
            self.authenticated(sock, peer)
            sock.settimeout(self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                try:
                    tag, array = read_message(sock, self.peer)
                except EOFError:
                    return
                self.handle(sock, tag, array)
        except Exception as e:  # noqa: BLE001 - whatever the peer sent (or handle raised), drop only this connection
            if not self._closed:
                log.warning("%s: dropped a connection from %s: %s: %s", self.name, peer_name(sock),
                            type(e).__name__, e)
        finally:
            sock.close()
            self.finished(sock)
