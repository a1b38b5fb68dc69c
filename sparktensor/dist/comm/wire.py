"""How one array travels on a TCP connection: a small header (tag, dtype, shape), then the raw bytes.

No pickle: the receiver allocates ``np.empty(shape, dtype)`` and reads the bytes straight into it, in
chunks, so a 64 MB buffer is never copied into a Python ``bytes`` object. Only bool, integer, float and
complex dtypes are accepted.

On a connection keyed by the handshake (``frames.py``) a frame is the header, its tag, the payload, and the
payload's tag; the reader checks the header's tag before it trusts the sizes, and the payload's before it
hands the array over.
"""
import math
import struct

import numpy as np

from .errors import CommError
from .frames import TAG_BYTES, keys_of

CHUNK = 4 << 20  # bytes per send/recv call of a large payload
SMALL = 64 << 10  # payloads up to this size go out in one write with their header
# bytes per tag of a keyed payload: tagging a piece holds the GIL (and keeps its thread off the socket) this briefly
PIECE = 256 << 10
_PREFIX = struct.Struct("<HBBQ")  # tag length, dtype length, ndim, payload bytes
_MAX_NDIM = 64


def pack_header(tag, array):
    """The header of ``array`` (C-contiguous) under ``tag``."""
    tag_bytes, dtype_bytes = tag.encode(), array.dtype.str.encode()
    return (_PREFIX.pack(len(tag_bytes), len(dtype_bytes), array.ndim, array.nbytes) + tag_bytes + dtype_bytes
            + struct.pack(f"<{array.ndim}q", *array.shape))


def write_message(sock, tag, array):
    """Send ``array`` (any layout; made C-contiguous) under ``tag`` on ``sock``, tagged if ``sock`` is keyed."""
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    keys = keys_of(sock)
    mac = None if keys is None else keys.sending
    header = pack_header(tag, array)
    if mac is not None:
        header += mac.header(header)
    payload = memoryview(array.reshape(-1).view(np.uint8))
    step = CHUNK if mac is None else PIECE
    if array.nbytes <= SMALL:
        if mac is not None:
            for start in range(0, len(payload), step):
                mac.piece(payload[start:start + step])
        sock.sendall(header + payload.tobytes() + (b"" if mac is None else mac.payload()))
        return
    sock.sendall(header)
    for start in range(0, len(payload), step):
        piece = payload[start:start + step]
        if mac is not None:
            mac.piece(piece)  # (GMAC holds the GIL about a millisecond a piece; sendall then lets it go)
        sock.sendall(piece)
    if mac is not None:
        sock.sendall(mac.payload())


def read_message(sock, peer):
    """The next ``(tag, array)`` on ``sock``; ``EOFError`` when the peer closed the connection between messages,
    ``FrameIntegrityError`` when a keyed frame fails its check."""
    keys = keys_of(sock)
    mac = None if keys is None else keys.receiving
    prefix = read_exactly(sock, _PREFIX.size, at_start=True)
    tag_length, dtype_length, ndim, nbytes = _PREFIX.unpack(prefix)
    if ndim > _MAX_NDIM:
        if mac is not None:
            mac.fail("header", peer)
        raise CommError(f"rank {peer} sent a malformed header ({ndim} dimensions)")
    rest = read_exactly(sock, tag_length + dtype_length + 8 * ndim)
    if mac is not None:
        mac.check(mac.header(prefix + rest), read_exactly(sock, TAG_BYTES), "header", peer)
    try:
        tag = rest[:tag_length].decode()
    except UnicodeDecodeError:
        raise CommError(f"rank {peer} sent a malformed header (tag {rest[:tag_length]!r})") from None
    try:
        dtype = np.dtype(rest[tag_length:tag_length + dtype_length].decode())
    except (TypeError, ValueError):  # (a UnicodeDecodeError is a ValueError)
        raise CommError(f"rank {peer} sent a malformed header (dtype {rest[tag_length:][:dtype_length]!r})") from None
    shape = struct.unpack(f"<{ndim}q", rest[tag_length + dtype_length:])
    # math.prod: np.prod would wrap around in int64 and let an absurd shape match a small byte count
    if dtype.kind not in "biufc" or min(shape, default=0) < 0 or math.prod(shape) * dtype.itemsize != nbytes:
        raise CommError(f"rank {peer} sent a malformed header (dtype {dtype}, shape {shape}, {nbytes} bytes)")
    try:
        array = np.empty(shape, dtype)
    except (MemoryError, ValueError) as e:
        raise CommError(f"rank {peer} sent a malformed header: {nbytes} bytes cannot be held here "
                        f"({type(e).__name__}: {e})") from None
    view = memoryview(array.reshape(-1).view(np.uint8))
    step = CHUNK if mac is None else PIECE
    for start in range(0, nbytes, step):
        piece = view[start:start + step]
        got = 0
        while got < len(piece):
            n = sock.recv_into(piece[got:])
            if n == 0:
                raise ConnectionError(f"the connection closed in the middle of a message ({start + got} of "
                                      f"{nbytes} bytes)")
            got += n
        if mac is not None:
            mac.piece(piece)  # checked as it comes in: the transfer of the next piece follows at once
    if mac is not None:
        mac.check(mac.payload(), read_exactly(sock, TAG_BYTES), "payload", peer)
    return tag, array


def read_exactly(sock, n, at_start=False):
    """``n`` bytes from ``sock``; ``EOFError`` if it closed before the first byte (``at_start``), else
    ``ConnectionError``."""
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            if at_start and got == 0:
                raise EOFError("the connection was closed")
            raise ConnectionError(f"the connection closed after {got} of {n} bytes")
        got += k
    return bytes(buffer)
