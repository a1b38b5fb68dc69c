"""How one array travels on a TCP connection: a small header (tag, dtype, shape), then the raw bytes.

No pickle: the receiver allocates ``np.empty(shape, dtype)`` and reads the bytes straight into it, in
chunks, so a 64 MB buffer is never copied into a Python ``bytes`` object. Only bool, integer, float and
complex dtypes are accepted.

On a connection keyed by the handshake (``frames.py``) a frame is the header, its tag, the payload, and the
payload's tag; the reader checks the header's tag before it trusts the sizes, and the payload's before it
hands the array over. A large payload's pieces are tagged on worker threads (``_gmac_pool``) in batches, beside
the transfer: the sender's batch while its ``sendall`` runs, the receiver's as soon as it came in, while the next
``recv_into`` runs (a socket call lets the GIL go), so the tags cost CPU time on another core rather than time on
the transfer's path; only the receiver's last quarter batch (1 MB) is tagged after the transfer.
"""
import math
import struct
from concurrent.futures import Future

import numpy as np

from . import _gmac_pool
from .errors import CommError
from .frames import TAG_BYTES, keys_of

CHUNK = 4 << 20  # bytes per send/recv call of a large payload
SMALL = 64 << 10  # payloads up to this size go out in one write with their header
PIECE = 256 << 10  # bytes per tag of a keyed payload (the format: both ends cut the payload the same way)
BATCH = 16 * PIECE  # bytes a tagging worker takes at a time (fewer hand-offs cost less CPU)
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
    if array.nbytes <= SMALL:
        piece_tags = b"" if mac is None else mac.payload(mac.piece_tags(payload, 0, PIECE))
        sock.sendall(header + payload.tobytes() + piece_tags)
        return
    sock.sendall(header)
    if mac is None:
        for start in range(0, len(payload), CHUNK):
            sock.sendall(payload[start:start + CHUNK])
        return
    run = _gmac_pool.submit if len(payload) > BATCH else _now
    piece_tags = []
    for start in range(0, len(payload), BATCH):
        batch = payload[start:start + BATCH]
        tagging = run(mac.piece_tags, batch, start // PIECE, PIECE)  # on a worker, beside the batch's transfer
        sock.sendall(batch)
        piece_tags += tagging.result()
    sock.sendall(mac.payload(piece_tags))


def read_message(sock, peer):
    """The next ``(tag, array)`` on ``sock``; ``EOFError`` when the peer closed the connection between messages,
    ``FrameIntegrityError`` when a keyed frame fails its check."""
    keys = keys_of(sock)
    mac = None if keys is None else keys.receiving
    prefix = read_exactly(sock, _PREFIX.size, at_start=True)
    _, _, ndim, nbytes = _PREFIX.unpack(prefix)
    if ndim > _MAX_NDIM:
        if mac is not None:
            mac.fail("header", peer)
        raise CommError(f"rank {peer} sent a malformed header ({ndim} dimensions)")
    rest = read_exactly(sock, header_rest_bytes(prefix))
    if mac is not None:
        mac.check(mac.header(prefix + rest), read_exactly(sock, TAG_BYTES), "header", peer)
    tag, array = unpack_header(prefix, rest, peer)
    view = memoryview(array.reshape(-1).view(np.uint8))
    beside = nbytes > BATCH  # tagged on workers while the next batch comes in; a small payload here, at its end
    tagging, tagged, got = [], 0, 0  # tagging jobs of the pieces view[:tagged]; view[:got] came in
    while got < nbytes:
        n = sock.recv_into(view[got:got + CHUNK])
        if n == 0:
            raise ConnectionError(f"the connection closed in the middle of a message ({got} of {nbytes} bytes)")
        got += n
        whole = got if got == nbytes else got - got % PIECE  # the pieces that came in whole
        # the last BATCH bytes go to the workers in quarters, so that only a quarter is tagged after the transfer
        batch = BATCH if nbytes - whole >= BATCH else BATCH // 4
        if mac is not None and (whole - tagged >= batch or whole == nbytes > tagged):
            run = _gmac_pool.submit if beside and whole < nbytes else _now  # (the last batch: nothing to overlap)
            tagging.append(run(mac.piece_tags, view[tagged:whole], tagged // PIECE, PIECE))
            tagged = whole
    if mac is not None:
        piece_tags = [piece_tag for job in tagging for piece_tag in job.result()]  # all of them, then the check
        mac.check(mac.payload(piece_tags), read_exactly(sock, TAG_BYTES), "payload", peer)
    return tag, array


def header_rest_bytes(prefix):
    """How many bytes of header follow its fixed-size ``prefix``."""
    tag_length, dtype_length, ndim, _ = _PREFIX.unpack(prefix)
    return tag_length + dtype_length + 8 * ndim


def unpack_header(prefix, rest, peer):
    """``(tag, array)``: the header's tag and an empty array of its dtype and shape, for the payload to fill;
    ``CommError`` naming ``peer`` where the header is malformed or its payload cannot be held here."""
    tag_length, dtype_length, ndim, nbytes = _PREFIX.unpack(prefix)
    if ndim > _MAX_NDIM or len(rest) != header_rest_bytes(prefix):
        raise CommError(f"rank {peer} sent a malformed header ({ndim} dimensions, {len(rest)} bytes)")
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
    return tag, array


def _now(fn, *args):
    """``fn(*args)`` run here, as a finished ``Future``."""
    done = Future()
    done.set_result(fn(*args))
    return done


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
