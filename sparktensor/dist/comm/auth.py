"""Mutual challenge-response on every new connection: both ends prove they hold the gang's key (HMAC-SHA256).

The key is random per job (``secrets``) and never sent; each side sends a fresh nonce and answers the
other's with ``HMAC(key, role + ranks + both nonces)``, so a recorded answer is worthless on another
connection. This authenticates the peers; then both derive the connection's own keys from the job key and
the two nonces, and every frame that follows carries a tag (``frames.py``). The arrays are not encrypted.
"""
import hashlib
import hmac
import secrets
import struct

from .frames import key_connection
from .wire import read_exactly

MAGIC = b"STCOMM01"
HANDSHAKE_TIMEOUT = 5.0  # seconds a new connection has to prove the key before it is dropped
MAX_UNAUTHENTICATED = 64  # connections still proving the key at once; a listener closes any more at once
MIN_KEY_BYTES = 16  # a shorter key (an empty one, a password) can be guessed: refuse it
_HELLO = struct.Struct("<8sii32s")  # magic, client rank, server rank, client nonce
_ACCEPTED = b"\x01"


def new_key():
    """A random per-job key (32 bytes)."""
    return secrets.token_bytes(32)


def check_key(key):
    """``key`` as bytes; ``TypeError`` or ``ValueError`` if it is not bytes or too short to be a secret."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"the key must be bytes, not {type(key).__name__}: make one with new_key()")
    key = bytes(key)
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key holds {len(key)} bytes, fewer than the {MIN_KEY_BYTES} random bytes a secret needs: "
                         f"make one with new_key()")
    return key


def _proof(key, role, ranks, first, second):
    return hmac.new(key, role + ranks + first + second, hashlib.sha256).digest()


def client_handshake(sock, key, rank, peer):
    """Prove ourselves to rank ``peer`` (the listening side) and check its proof; raise ``PermissionError`` if not.
    The frames that follow on ``sock`` are tagged with its keys."""
    key = check_key(key)
    nonce = secrets.token_bytes(32)
    sock.sendall(_HELLO.pack(MAGIC, rank, peer, nonce))
    answer = read_exactly(sock, 64)
    server_nonce, server_proof = answer[:32], answer[32:]
    ranks = struct.pack("<ii", rank, peer)
    if not hmac.compare_digest(server_proof, _proof(key, b"S", ranks, nonce, server_nonce)):
        raise PermissionError(f"rank {peer} could not prove it holds this gang's key")
    sock.sendall(_proof(key, b"C", ranks, server_nonce, nonce))
    if read_exactly(sock, 1) != _ACCEPTED:
        raise PermissionError(f"rank {peer} refused the connection")
    key_connection(sock, key, nonce, server_nonce, ranks, client=True)


def server_handshake(sock, key, rank, world_size):
    """Check a connecting peer's proof and prove ourselves; returns its rank, or raises ``PermissionError``. The
    frames that follow on ``sock`` are tagged with its keys.

    ``key``: the key, or a function of the peer's claimed rank that returns the key it must hold (None: no
    key is valid for that rank, e.g. a job that is over).
    """
    if not callable(key):
        key = check_key(key)
    magic, peer, me, nonce = _HELLO.unpack(read_exactly(sock, _HELLO.size))
    if magic != MAGIC or me != rank or not 0 <= peer < world_size or peer == rank:
        raise PermissionError(f"a connection to rank {rank} did not start with a valid greeting")
    if callable(key):
        key = key(peer)
        if key is None:
            raise PermissionError(f"a connection claimed to be peer {peer}, for which no key is valid (any more)")
        key = check_key(key)
    server_nonce = secrets.token_bytes(32)
    ranks = struct.pack("<ii", peer, rank)
    sock.sendall(server_nonce + _proof(key, b"S", ranks, nonce, server_nonce))
    if not hmac.compare_digest(read_exactly(sock, 32), _proof(key, b"C", ranks, server_nonce, nonce)):
        raise PermissionError(f"a connection claiming to be rank {peer} did not prove it holds this gang's key")
    key_connection(sock, key, nonce, server_nonce, ranks, client=False)
    sock.sendall(_ACCEPTED)
    return peer
