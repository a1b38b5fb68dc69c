"""How one array travels on a TCP connection: a small header (tag, dtype, shape), then the raw bytes.

No pickle: the receiver allocates ``np.empty(shape, dtype)`` and reads the bytes straight into it, in
chunks, so a 64 MB buffer is never copied into a Python ``bytes`` object. Only bool, integer, float and
complex dtypes are accepted.
"""
import math
import struct

import numpy as np

from .errors import CommError

CHUNK = 4 << 20  # bytes per send/recv call of a large payload
SMALL = 64 << 10  # payloads up to this size go out in one write with their header
_PREFIX = struct.Struct("<HBBQ")  # tag length, dtype length, ndim, payload bytes
_MAX_NDIM = 64


def pack_header(tag, array):
    """The header of ``array`` (C-contiguous) under ``tag``."""
    tag_bytes, dtype_bytes = tag.encode(), array.dtype.str.encode()
    return (_PREFIX.pack(len(tag_bytes), len(dtype_bytes), array.ndim, array.nbytes) + tag_bytes + dtype_bytes
            + struct.pack(f"<{array.ndim}q", *array.shape))


def write_message(sock, tag, array):
    """Send ``array`` (any layout; made C-contiguous) under ``tag`` on ``sock``."""
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    header = pack_header(tag, array)
    payload = memoryview(array.reshape(-1).view(np.uint8))
    if array.nbytes <= SMALL:
        sock.sendall(header + payload.tobytes())
        return
    sock.sendall(header)
    for start in range(0, len(payload), CHUNK):
        sock.sendall(payload[start:start + CHUNK])


def read_message(sock, peer):
    """The next ``(tag, array)`` on ``sock``; ``EOFError`` when the peer closed the connection between messages."""
    prefix = read_exactly(sock, _PREFIX.size, at_start=True)
    tag_length, dtype_length, ndim, nbytes = _PREFIX.unpack(prefix)
    if ndim > _MAX_NDIM:
        raise CommError(f"rank {peer} sent a malformed header ({ndim} dimensions)")
    rest = read_exactly(sock, tag_length + dtype_length + 8 * ndim)
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
    got = 0
    while got < nbytes:
        n = sock.recv_into(view[got:got + CHUNK])
        if n == 0:
            raise ConnectionError(f"the connection closed in the middle of a message ({got} of {nbytes} bytes)")
        got += n
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
