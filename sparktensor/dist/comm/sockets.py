"""``SocketTransport``: one rank's TCP connections to the other ranks of a gang (processes, hosts or threads).

* Each rank listens on one socket. A connection to a peer is made on first use and kept: one connection
  per direction and pair, each opened with a mutual HMAC challenge-response on the gang's key (``auth.py``),
  after which every frame carries a tag under the connection's own keys (``frames.py``): a frame changed,
  replayed, reordered or cut short on the way fails the connection with ``FrameIntegrityError``.
* A writer thread per outgoing connection sends messages in order, so a rank can send to its right
  neighbour while it receives from its left one (the ring's steps) without either side blocking.
* A reader thread per incoming connection reads every message as it comes into a per-peer inbox, and a
  watcher per outgoing connection waits for the peer's goodbye frame on it; so a peer that dies (end of
  stream without a goodbye), fails (it sends an abort with its reason), or stops answering is noticed at
  once, and every blocking call raises ``CommError`` naming it.
* Between two ranks on one host a connection's payloads travel through a shared-memory ring instead of the
  socket, once the receiver has opened the sender's ring (``shared_ring.py``); everything else stays on the
  connection, so messages keep their order and their frames.
"""
import logging
import queue
import socket
import struct
import threading
import time

import numpy as np

from .auth import HANDSHAKE_TIMEOUT, MAX_UNAUTHENTICATED, check_key, client_handshake, server_handshake
from .errors import CommError, CommTimeout, FrameIntegrityError
from .listening import accept_connections, peer_name, shut
from .shared_ring import (FREE, OPEN, READY, RECEIVER_FRAMES, SENDER_FRAMES, RingReader, SendRing, configured_bytes,
                          send_through)
from .transport import DONE, Transport, remaining
from .wire import SMALL, read_message, write_message

log = logging.getLogger("sparktensor.dist.comm")

_BYE, _ABORT = "!bye", "!abort"  # control messages; the tags of groups never start with "!"
_CLOSED, _FAILED = object(), object()  # left in an inbox for good: every later receive sees them
_NOTHING = np.empty(0, np.uint8)


def open_listener(host="127.0.0.1", port=0):
    """A listening TCP socket on ``host`` (an ephemeral port by default); its address is ``getsockname()``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    return listener


class SocketTransport(Transport):
    """Rank ``rank`` of a gang whose listening addresses are ``addresses`` (``(host, port)`` in rank order).

    Args:
        rank: this rank.
        addresses: every rank's listening address, in rank order (this rank's is ``listener``'s).
        key: the gang's secret (bytes); a connection from anyone without it is refused.
        listener: this rank's listening socket (``open_listener``), opened before the addresses were exchanged.
        timeout: seconds to keep trying to reach a peer, and the longest a send may make no progress.
        shared_memory: bytes of each outgoing connection's shared-memory ring, used where the peer is on this
            host (``shared_ring.py``); 0 keeps every byte on the sockets. Default: ``SPARKTENSOR_SHM_BYTES``,
            else 16 MiB.
    """

    def __init__(self, rank, addresses, key, listener, timeout=60.0, shared_memory=None):
        super().__init__(rank, len(addresses))
        self.check_peer(rank)
        self.addresses = [(str(host), int(port)) for host, port in addresses]
        self.key = check_key(key)
        self.timeout = float(timeout)
        self.shared_memory = configured_bytes() if shared_memory is None else int(shared_memory)
        self.failure = None  # why this rank can no longer communicate (the first reason)
        self._failure_kind = (CommError, None)  # the error class every later call raises, and the peer it names
        self._listener = listener
        self._inbox = [queue.SimpleQueue() for _ in range(self.world_size)]
        self._writers = {}  # dst -> _Writer
        self._incoming = {}  # src -> socket
        self._answering = {}  # src -> the lock of writes back on its incoming socket
        self._lock = threading.Lock()
        self._closing = False
        self._stopped = threading.Event()  # set when closing gave up waiting: writers stop trying to connect
        self._unauthenticated = threading.BoundedSemaphore(MAX_UNAUTHENTICATED)
        listener.settimeout(0.2)  # the accepting thread looks this often whether the transport was closed
        threading.Thread(target=self._accept, name=f"sparktensor-accept-{rank}", daemon=True).start()

    # ----- the primitives -----
    def post(self, dst, tag, array):
        self.check_peer(dst)
        if self.failure is not None:
            raise self._failed()
        if self._closing:
            raise CommError(f"rank {self.rank}: the communicator is closed")
        if dst == self.rank:
            self._inbox[dst].put((tag, np.array(array, copy=True)))
            return DONE
        sent = _Sent(self.rank, dst)
        self._writer(dst).messages.put((tag, array, sent))
        return sent

    def _next(self, src, deadline):
        self.check_peer(src)
        inbox = self._inbox[src]
        try:
            item = inbox.get(timeout=remaining(deadline, self.rank, src))
        except queue.Empty:
            raise CommTimeout(f"rank {self.rank} timed out waiting for a message from rank {src}", src) from None
        if item is _FAILED:
            inbox.put(item)
            raise self._failed()
        if item is _CLOSED:
            inbox.put(item)
            raise CommError(f"rank {src} closed its communicator while rank {self.rank} waited for a message from it")
        return item

    def fail(self, reason, kind=CommError, peer=None):
        """Stop communicating: every blocking call from now on raises ``CommError(reason)`` (the first reason;
        ``kind``, a subclass naming ``peer``, when there is a more precise one)."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure, self._failure_kind = reason, (kind, peer)
        for inbox in self._inbox:
            inbox.put(_FAILED)

    def _failed(self):
        kind, peer = self._failure_kind
        return CommError(self.failure) if kind is CommError else kind(self.failure, peer)

    def abort(self, reason, flush_timeout=2.0):
        """Tell every peer why this rank gives up (they raise ``CommError`` with ``reason`` at once), then close."""
        message = np.frombuffer(reason.encode(), np.uint8)
        if not self._closing:
            for dst in range(self.world_size):
                if dst != self.rank:
                    self._writer(dst).messages.put((_ABORT, message, _Sent(self.rank, dst)))
        self.close(flush_timeout)

    def close(self, flush_timeout=None):
        """Say goodbye to the peers this rank talked to, wait for the sends to finish, close every socket."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            writers = list(self._writers.values())
        for writer in writers:
            writer.messages.put((_BYE, _NOTHING, _Sent(self.rank, writer.dst)))
            writer.messages.put(None)
        deadline = time.monotonic() + (self.timeout if flush_timeout is None else flush_timeout)
        for writer in writers:
            writer.join(max(0.0, deadline - time.monotonic()))
        self._stopped.set()
        self._listener.close()
        with self._lock:
            incoming = list(self._incoming.items())
            outgoing = [w.sock for w in writers if w.sock is not None]
        for peer, sock in incoming:
            try:
                with self._answering[peer]:
                    write_message(sock, _BYE, _NOTHING)  # the peer's watcher: this rank closed, it did not die
            except OSError:
                pass
        for sock in [sock for _, sock in incoming] + outgoing:
            shut(sock)

    # ----- connections -----
    def connected(self):
        """``(outgoing, incoming)``: the ranks this rank has a connection to, and from (each made once)."""
        with self._lock:
            return sorted(self._writers), sorted(self._incoming)

    def _writer(self, dst):
        with self._lock:
            writer = self._writers.get(dst)
            if writer is None:
                writer = self._writers[dst] = _Writer(self, dst)
                writer.start()
            return writer

    def _connect(self, dst):
        """A new authenticated connection to ``dst``, retried until ``timeout`` while the peer is not listening."""
        host, port = self.addresses[dst]
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=min(HANDSHAKE_TIMEOUT, self.timeout))
                break
            except OSError as e:
                given_up = self._stopped.is_set() or (self._closing and isinstance(e, ConnectionRefusedError))
                if time.monotonic() > deadline or given_up:  # (closing: a refused peer is gone; do not wait)
                    raise CommError(f"rank {self.rank} cannot connect to rank {dst} at {host}:{port} ({e})") from e
                time.sleep(0.05)
        try:
            client_handshake(sock, self.key, self.rank, dst)
        except PermissionError as e:
            sock.close()
            raise CommError(f"rank {self.rank} cannot connect to rank {dst}: {e}") from e
        except (OSError, EOFError) as e:
            sock.close()
            raise CommError(f"rank {dst} at {host}:{port} refused the connection from rank {self.rank} "
                            f"(it holds another key, or it is not a rank of this gang): {e}") from e
        sock.settimeout(self.timeout)  # a send that makes no progress for this long fails
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _accept(self):
        accept_connections(self._listener, lambda: self._closing, f"rank {self.rank}", self._unauthenticated,
                           self._serve)

    def _serve(self, conn):
        """Authenticate a new incoming connection, then read its messages into the peer's inbox."""
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            peer = server_handshake(conn, self.key, self.rank, self.world_size)
        except (PermissionError, OSError, EOFError, struct.error) as e:
            log.warning("rank %d refused a connection from %s: %s", self.rank, peer_name(conn), e)
            shut(conn)
            return
        finally:
            self._unauthenticated.release()
        with self._lock:
            if peer in self._incoming or self._closing:
                if not self._closing:
                    log.warning("rank %d refused a second connection from rank %d", self.rank, peer)
                shut(conn)
                return
            self._incoming[peer] = conn
            self._answering[peer] = threading.Lock()
        conn.settimeout(None)  # waiting for the next message is the receiving call's business, with its timeout
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._read(peer, conn)

    def _read(self, peer, conn):
        def answer(tag, array):  # a frame back to the sender on its own connection (its watcher reads it)
            with self._answering[peer]:
                write_message(conn, tag, array)
        ring = RingReader(peer, answer, enabled=lambda: self.shared_memory > 0)  # (asked at each invitation)
        try:
            while True:
                tag, array = read_message(conn, peer)
                if tag in SENDER_FRAMES:
                    message = ring.handle(tag, array)
                    if message is not None:
                        self._inbox[peer].put(message)
                    continue
                if tag == _BYE:
                    self._inbox[peer].put(_CLOSED)
                    return
                if tag == _ABORT:
                    self.fail(f"rank {peer} gave up: {array.tobytes().decode(errors='replace')}")
                    return
                self._inbox[peer].put((tag, array))
        except (OSError, EOFError) as e:
            if not self._closing:
                self.fail(f"rank {peer} died or lost its connection to rank {self.rank} ({e})")
        except FrameIntegrityError as e:  # the frame is not delivered, and nothing after it on this connection
            if not self._closing:
                self.fail(f"{e}; rank {self.rank} dropped its connection from rank {peer}", FrameIntegrityError, peer)
        except Exception as e:  # noqa: BLE001 - a bad frame must fail the connection, not end this thread unheard
            if not self._closing:
                why = (str(e) if isinstance(e, CommError)
                       else f"rank {peer} sent a malformed message ({type(e).__name__}: {e})")
                self.fail(f"{why}; rank {self.rank} dropped its connection from rank {peer}")
        finally:
            shut(conn)


class _Writer(threading.Thread):
    """Sends the messages posted to one peer, in order, over one connection made on first use."""

    def __init__(self, transport, dst):
        super().__init__(name=f"sparktensor-send-{transport.rank}-to-{dst}", daemon=True)
        self.transport, self.dst = transport, dst
        self.messages = queue.SimpleQueue()  # (tag, array, _Sent), then None
        self.sock = None
        self.ring = None  # this connection's shared-memory ring, once made
        self.ring_ready = False  # set by the watcher when the peer has opened the ring
        self._offered = False

    def run(self):
        error = None
        try:
            self.sock = self.transport._connect(self.dst)
            threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True).start()
        except CommError as e:
            error = e
            self.transport.fail(str(e))
        while (item := self.messages.get()) is not None:
            tag, array, sent = item
            if error is None:
                try:
                    ring, payload = self.ring, array.nbytes > SMALL and not tag.startswith("!")
                    if payload and self.ring_ready and ring is not None:
                        send_through(ring, self.sock, tag, np.ascontiguousarray(array), self._waiting_for_room())
                    else:
                        if payload and not self._offered:  # (this message goes on the socket: not yet answered)
                            self._offer_ring()
                        write_message(self.sock, tag, array)
                except CommError as e:
                    error = e
                    if not self.transport._closing:
                        self.transport.fail(str(error))
                except OSError as e:
                    error = CommError(f"rank {self.dst} died or closed its connection while rank "
                                      f"{self.transport.rank} was sending to it ({e})")
                    if not self.transport._closing:
                        self.transport.fail(str(error))
            sent.done(error)
        if self.ring is not None:
            self.ring.close()
        if self.sock is not None:
            shut(self.sock)

    def _offer_ring(self):
        """Make this connection's shared-memory ring and invite the peer to open it (it answers on the watcher's
        side), at the first payload over ``SMALL``: a connection that carries only small messages reserves no
        memory. Where no ring can be made here (no /dev/shm, too little room in it) the connection stays TCP."""
        self._offered = True
        if self.transport.shared_memory <= 0:
            return
        try:
            self.ring = SendRing(self.transport.shared_memory)
        except OSError as e:
            log.debug("rank %d sends to rank %d over TCP alone: no shared-memory ring (%s)", self.transport.rank,
                      self.dst, e)
            return
        write_message(self.sock, OPEN, self.ring.invitation())

    def _waiting_for_room(self):
        """The ``check`` of one message's waits for room in the ring: it raises ``CommError`` when the transport
        failed or closed, and ``CommTimeout`` when the peer has freed nothing for ``timeout`` seconds (as a send
        on the socket that makes no progress for that long fails)."""
        transport, ring = self.transport, self.ring
        freed, since = ring.released, time.monotonic()

        def check():
            nonlocal freed, since
            if transport.failure is not None:
                raise transport._failed()
            if ring.closed:
                raise CommError(f"rank {transport.rank} closed its connection to rank {self.dst}")
            if ring.peer_closed:
                raise CommError(f"rank {self.dst} closed its communicator while rank {transport.rank} was sending "
                                f"to it")
            if ring.released != freed:
                freed, since = ring.released, time.monotonic()
            elif time.monotonic() - since > transport.timeout:
                raise CommTimeout(f"rank {transport.rank} timed out sending to rank {self.dst}: rank {self.dst} read "
                                  f"nothing of its shared-memory ring for {transport.timeout:g} s", self.dst)
        return check

    def _answered(self, tag, array):
        """The peer's answer about the ring: opened it, refused it (the connection stays TCP), or read up to."""
        if tag == FREE:
            if array.dtype != np.int64 or array.shape != (1,):
                raise CommError(f"rank {self.dst} sent a malformed shared-memory answer ({array.dtype}, {array.shape})")
            self.ring.release(int(array[0]))
        elif tag == READY:
            self.ring_ready = True
        else:
            log.debug("rank %d sends to rank %d over TCP alone: it could not open the shared-memory ring (%s)",
                      self.transport.rank, self.dst, array.tobytes().decode(errors="replace"))
            ring, self.ring = self.ring, None
            ring.close()

    def _watch(self):
        """The peer sends nothing on this connection but its answers about the ring and a goodbye frame: its end
        without a goodbye means it died."""
        transport, sock = self.transport, self.sock
        while True:
            try:
                if not sock.recv(1, socket.MSG_PEEK):  # waits for the goodbye (or the end) without taking it
                    why = "end of stream"
                else:
                    tag, array = read_message(sock, self.dst)
                    if tag in RECEIVER_FRAMES and self.ring is not None:
                        self._answered(tag, array)
                        continue
                    why = None if tag == _BYE else f"it sent {tag!r} where only a goodbye or a ring's answer may come"
            except socket.timeout:
                continue
            except FrameIntegrityError as e:
                if not transport._closing:
                    transport.fail(f"{e}; rank {transport.rank} dropped its connection to rank {self.dst}",
                                   FrameIntegrityError, self.dst)
                return
            except (OSError, EOFError, CommError) as e:
                why = repr(e)
            if self.ring is not None:
                self.ring.peer_gone()  # a send waiting for room in its ring waits no more
            if why is None or transport._closing:
                return
            transport.fail(f"rank {self.dst} died or lost its connection to rank {transport.rank} ({why})")
            return


class _Sent:
    """The handle of one posted message: ``wait`` returns once it was written, or raises why it was not."""

    __slots__ = ("rank", "dst", "event", "error")

    def __init__(self, rank, dst):
        self.rank, self.dst, self.event, self.error = rank, dst, threading.Event(), None

    def done(self, error=None):
        self.error = error
        self.event.set()

    def wait(self, timeout=None):
        if not self.event.wait(timeout):
            raise CommTimeout(f"rank {self.rank} timed out sending to rank {self.dst}", self.dst)
        if self.error is not None:
            raise self.error


