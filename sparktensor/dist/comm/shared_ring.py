"""A shared-memory ring that carries the payloads of one connection between two ranks on the same host.

Over loopback TCP an array is copied into the kernel, out of it again, and hashed twice (the frame tags of
``frames.py``). Between two processes of one host a file in ``/dev/shm`` that both map needs one copy on each
side and no hashing. The connection still carries everything else, in order: the headers, and for each piece
of a payload a small frame naming where in the ring it lies; so the ring changes where the bytes travel, not
the order or the framing of the messages.

How a connection gets a ring (``sockets.py``):

* the sending rank creates the file (``SendRing``): a random name, ``O_EXCL``, mode 0600, its pages reserved
  with ``posix_fallocate`` (a full ``/dev/shm`` fails here, not with a ``SIGBUS`` later), a random nonce in its
  first page; it sends the name and the nonce on the authenticated connection (``!shm-open``) and goes on
  sending over TCP;
* the receiving rank opens the file by that name, checks that it belongs to its own user, is private to it and
  holds the nonce (so it is the sender's file on the same host, not a namesake elsewhere), maps it, removes its
  name, and answers ``!shm-ready``; or ``!shm-no`` where any of that fails (another host, another user, no
  ``/dev/shm``, no memory), and the connection stays TCP only;
* from the answer on, a payload over ``wire.SMALL`` bytes travels through the ring in pieces, each named by a
  small frame on the connection (the first one's also carries the message's header); the receiver copies each
  piece out, and whenever it has read half a ring more it says how far (``!shm-free``), which frees the room.

A frame costs more CPU here than copying a megabyte (tens of microseconds of Python and tags for each frame,
and a thread's wake-up), so a message takes one frame each way where it fits a quarter of the ring.

The ring's bytes carry no tags: its file can only be opened by the job's user (or root), and its name is gone
once the peer mapped it; a process of that user could read the gang's key from the ranks' memory anyway.
``SPARKTENSOR_SHM_BYTES`` sets each ring's size (16 MiB by default; 0 turns rings off).
"""
import json
import mmap
import os
import re
import secrets
import stat
import threading

import numpy as np

from .errors import CommError
from .wire import _PREFIX, pack_header, unpack_header, write_message

SHM_DIR = "/dev/shm"
DEFAULT_BYTES = 16 << 20
HEAD = mmap.PAGESIZE  # the first page holds the nonce; the ring's bytes follow it
_NONCE_BYTES = 16
_NAME = re.compile(r"sparktensor-ring-(\d+)-[0-9a-f]{32}")  # the creating process's id, then a random part
_WAIT_STEP = 0.2  # seconds between looks at whether a blocked sender should give up
# the frames of the ring protocol (group tags never start with "!")
OPEN, READY, REFUSED, HEADER, PIECE, FREE = "!shm-open", "!shm-ready", "!shm-no", "!shm", "!shm+", "!shm-free"
SENDER_FRAMES, RECEIVER_FRAMES = (OPEN, HEADER, PIECE), (READY, REFUSED, FREE)
_WHERE_BYTES = 24  # a piece's place: offset, bytes, and the ring's count of bytes placed up to its end (int64)


def configured_bytes():
    """Each ring's size in bytes (``SPARKTENSOR_SHM_BYTES``; 0 where rings are off or there is no /dev/shm)."""
    asked = os.environ.get("SPARKTENSOR_SHM_BYTES", "").strip()
    try:
        size = DEFAULT_BYTES if not asked else int(asked)
    except ValueError:
        raise ValueError(f"SPARKTENSOR_SHM_BYTES={asked!r}: expected a number of bytes (0 turns the shared-memory "
                         f"rings off)") from None
    if size < 0:
        raise ValueError(f"SPARKTENSOR_SHM_BYTES={asked!r}: expected a number of bytes >= 0")
    return size if os.path.isdir(SHM_DIR) else 0


class SendRing:
    """The sending side of a ring of ``size`` bytes: a new private file in ``/dev/shm``, mapped here.

    ``reserve`` blocks until the receiver has freed room; the writer thread copies a piece in with ``write``
    and names it to the receiver; ``release`` (called when the receiver says how far it has read) frees room.
    """

    def __init__(self, size):
        self.size = int(size)
        _remove_orphans()
        self.name = f"sparktensor-ring-{os.getpid()}-{secrets.token_hex(16)}"
        self.path = os.path.join(SHM_DIR, self.name)
        self.nonce = secrets.token_bytes(_NONCE_BYTES)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, HEAD + self.size)
            self._map = mmap.mmap(fd, HEAD + self.size)
        except BaseException:
            self.unlink()
            raise
        finally:
            os.close(fd)
        self._map[:_NONCE_BYTES] = self.nonce
        self.buffer = np.frombuffer(self._map, np.uint8, self.size, HEAD)
        self.written = self.released = 0  # bytes ever placed in the ring (and skipped at its end), ever freed
        self._changed = threading.Condition()
        self.closed = False
        self.peer_closed = False  # the receiver said goodbye: nothing more will be read

    def invitation(self):
        """What the receiver needs to open the ring (the payload of ``!shm-open``)."""
        text = json.dumps({"name": self.name, "nonce": self.nonce.hex(), "size": self.size})
        return np.frombuffer(text.encode(), np.uint8)

    def reserve(self, n, check):
        """``(offset, end)``: room for ``n`` bytes at ``offset``, free once the receiver reports ``end``.

        Waits for the receiver to free room; ``check()`` is called between waits and raises to give up."""
        if not 0 < n <= self.size:
            raise ValueError(f"a ring piece must be 1 to {self.size} bytes, got {n}")
        with self._changed:
            while True:
                at = self.written % self.size
                skip = self.size - at if at + n > self.size else 0  # a piece never wraps around the end
                if self.written + skip + n - self.released <= self.size:
                    start = self.written + skip
                    self.written = start + n
                    return start % self.size, self.written
                check()
                self._changed.wait(_WAIT_STEP)

    def write(self, offset, data):
        self.buffer[offset:offset + len(data)] = np.frombuffer(data, np.uint8)

    def release(self, end):
        """The receiver has read everything placed before ``end``."""
        with self._changed:
            self.released = max(self.released, min(int(end), self.written))
            self._changed.notify_all()

    def unlink(self):
        """Remove the file's name (the receiver does once it has mapped it; this is for when it did not)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def close(self):
        self.closed = True
        self.unlink()
        with self._changed:
            self._changed.notify_all()

    def peer_gone(self):
        """The receiver closed its end: a sender waiting for room stops waiting."""
        self.peer_closed = True
        with self._changed:
            self._changed.notify_all()


def _remove_orphans():
    """Remove this user's ring files whose creator has died before its peer mapped them (a process killed in the
    moment between making a ring and its peer's answer). A ring whose creator lives is left alone; removing one
    in another PID namespace's use only sends that connection back to TCP, as its peer then cannot open it."""
    try:
        names = os.listdir(SHM_DIR)
    except OSError:
        return
    for name in names:
        match = _NAME.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        path = os.path.join(SHM_DIR, name)
        try:
            if os.stat(path, follow_symlinks=False).st_uid != os.geteuid():
                continue
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            try:
                os.unlink(path)
            except OSError:
                pass
        except (OSError, OverflowError):  # gone already, or a process of another user (PermissionError)
            continue


class ReceiveRing:
    """The receiving side: the sender's ring, opened from its invitation and mapped read-only.

    Raises ``ValueError`` or ``OSError`` saying why the ring cannot be used here (the connection then stays on
    TCP alone)."""

    def __init__(self, invitation):
        try:
            asked = json.loads(invitation.tobytes().decode())
            name, nonce, size = str(asked["name"]), bytes.fromhex(asked["nonce"]), int(asked["size"])
        except (ValueError, KeyError, TypeError, OverflowError) as e:
            raise ValueError(f"a malformed shared-memory invitation ({type(e).__name__}: {e})") from None
        if not _NAME.fullmatch(name) or len(nonce) != _NONCE_BYTES or size <= 0:
            raise ValueError(f"a malformed shared-memory invitation (name {name!r}, size {size})")
        path = os.path.join(SHM_DIR, name)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # (not a link; a FIFO would not block)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
                raise ValueError(f"{path} is not a regular file private to this user")
            if info.st_size != HEAD + size:
                raise ValueError(f"{path} holds {info.st_size} bytes, not the {HEAD + size} announced")
            self._map = mmap.mmap(fd, HEAD + size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        if not secrets.compare_digest(self._map[:_NONCE_BYTES], nonce):
            raise ValueError(f"{path} does not hold the sender's nonce: it is another host's file of that name")
        os.unlink(path)  # both sides have it mapped; no one else can open it from now on
        self.size = size
        self.buffer = np.frombuffer(self._map, np.uint8, size, HEAD)

    def read(self, offset, n, into):
        """Copy the ``n`` bytes at ``offset`` into ``into`` (a uint8 view of ``n`` bytes)."""
        if not (0 <= offset and 0 < n and offset + n <= self.size and len(into) == n):
            raise ValueError(f"a ring piece of {n} bytes at offset {offset} does not fit a ring of {self.size} "
                             f"bytes and a destination of {len(into)}")
        into[:] = self.buffer[offset:offset + n]


def send_through(ring, sock, tag, array, check):
    """Send ``array`` (C-contiguous) under ``tag`` on ``sock``, its payload through ``ring`` in pieces of at most
    a quarter of the ring (so the receiver copies one out while the next goes in). Each piece's frame names where
    in the ring it lies; the first one's also carries the message's header."""
    payload = memoryview(array.reshape(-1).view(np.uint8))
    piece = max(1, ring.size // 4)
    for start in range(0, len(payload), piece):
        chunk = payload[start:start + piece]
        offset, end = ring.reserve(len(chunk), check)
        ring.write(offset, chunk)
        where = np.array([offset, len(chunk), end], np.int64)
        if start == 0:
            write_message(sock, HEADER, np.frombuffer(where.tobytes() + pack_header(tag, array), np.uint8))
        else:
            write_message(sock, PIECE, where)


class RingReader:
    """The receiving end of one connection's ring: ``handle`` takes each ring frame from ``peer`` in turn and
    returns a whole message once its last piece is in; ``answer(tag, array)`` writes a frame back to the sender;
    ``enabled()`` says whether this rank opens rings now.
    """

    def __init__(self, peer, answer, enabled):
        self.peer, self.answer, self.enabled = peer, answer, enabled
        self.ring = None
        self._message = None  # (tag, array, its bytes, how many came in)
        self._reported = 0  # how far the sender was told this side has read

    def handle(self, frame, array):
        if frame == OPEN:
            self._open(array)
        elif frame == HEADER:
            self._start(array[_WHERE_BYTES:])
            return self._piece(array[:_WHERE_BYTES].view(np.int64))
        elif frame == PIECE:
            return self._piece(array)
        else:
            raise CommError(f"rank {self.peer} sent a {frame!r} frame, which only a receiving rank sends")
        return None

    def _open(self, invitation):
        if not self.enabled():
            self.answer(REFUSED, np.frombuffer(b"shared memory is off on this rank", np.uint8))
            return
        try:
            self.ring = ReceiveRing(invitation)
        except (OSError, ValueError) as e:
            self.answer(REFUSED, np.frombuffer(f"{type(e).__name__}: {e}".encode(), np.uint8))
            return
        self.answer(READY, np.empty(0, np.uint8))

    def _start(self, header):
        if self.ring is None or self._message is not None or header.dtype != np.uint8:
            raise CommError(f"rank {self.peer} sent a shared-memory header out of turn or malformed")
        data = header.tobytes()
        tag, array = unpack_header(data[:_PREFIX.size], data[_PREFIX.size:], self.peer)
        if array.nbytes == 0:
            raise CommError(f"rank {self.peer} sent a shared-memory header of an empty array")
        self._message = (tag, array, memoryview(array.reshape(-1).view(np.uint8)), 0)

    def _piece(self, where):
        if self._message is None or where.dtype != np.int64 or where.shape != (3,):
            raise CommError(f"rank {self.peer} sent a shared-memory piece out of turn or malformed")
        tag, array, view, got = self._message
        offset, n, end = (int(v) for v in where)
        if n > len(view) - got:
            raise CommError(f"rank {self.peer} sent a shared-memory piece of {n} bytes where {len(view) - got} "
                            f"were left of the message")
        try:
            self.ring.read(offset, n, view[got:got + n])
        except ValueError as e:
            raise CommError(f"rank {self.peer} sent a malformed shared-memory piece: {e}") from None
        if end - self._reported >= self.ring.size // 2:  # (a sender waiting for room has more than half in flight)
            self.answer(FREE, np.array([end], np.int64))
            self._reported = end
        got += n
        if got < len(view):
            self._message = (tag, array, view, got)
            return None
        self._message = None
        return tag, array
