"""The accept loop of a listener whose connections must prove the job's key, shared by every server here.

A failed ``accept`` (out of file descriptors, say) is logged and retried after a short wait that doubles up
to a second; at most ``MAX_UNAUTHENTICATED`` connections may be proving the key at once (a connection's
server releases its slot once the handshake ends), and any more are closed at once.
"""
import logging
import socket
import threading
import time

log = logging.getLogger("sparktensor.dist.comm")
ACCEPT_BACKOFF, ACCEPT_BACKOFF_CAP = 0.01, 1.0  # seconds to wait after a failed accept, doubling up to the cap


def accept_connections(listener, closed, name, unauthenticated, serve, accepted=None):
    """Accept on ``listener`` until ``closed()``: each connection takes a slot of ``unauthenticated`` (a
    semaphore) and is handed to ``serve(conn)`` on its own thread, after ``accepted(conn)`` when given."""
    backoff = ACCEPT_BACKOFF
    while not closed():
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError as e:  # e.g. out of file descriptors: wait for some to be freed, keep listening
            if closed() or listener.fileno() == -1:  # closed: nothing more to accept
                return
            log.warning("%s could not accept a connection (%s); trying again in %.2f s", name, e, backoff)
            time.sleep(backoff)
            backoff = min(2 * backoff, ACCEPT_BACKOFF_CAP)
            continue
        backoff = ACCEPT_BACKOFF
        if not unauthenticated.acquire(blocking=False):
            log.warning("%s closed a connection from %s: too many connections are still proving the key", name,
                        peer_name(conn))
            shut(conn)
            continue
        if accepted is not None:
            accepted(conn)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def peer_name(conn):
    """``host:port`` of the other end, for messages."""
    try:
        return "%s:%d" % conn.getpeername()[:2]
    except OSError:
        return "an unknown address"


def shut(conn):
    """Shut a connection down both ways and close it, whatever state it is in."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()
