"""Integrity of every frame after the handshake: a key per connection and direction, a tag per frame.

The handshake (``auth.py``) ends with both sides holding the job key and both fresh nonces. From them each
side derives two keys with HKDF-SHA256, one per direction, so every connection has keys of its own and a
frame cannot be sent back the way it came. A frame (``wire.py``) then carries two AES-GMAC tags (AES-256-GCM
over associated data only):

* after its header, over the header: sizes are trusted before anything is allocated for the payload;
* after its payload, over the tags of its pieces (``wire.PIECE`` bytes each), computed beside the transfer as the
  pieces go out and come in, so that hashing follows the transfer instead of waiting for the whole array.

Every tag's nonce is the frame's number in its direction and the piece's place in the frame, so a replayed,
reordered, dropped or shortened frame fails its check as surely as a changed byte: ``FrameIntegrityError``,
and the payload is never handed over. GMAC (AES-NI and carry-less multiplication, through OpenSSL) tags 5 to
20 GB/s on one core here; hashlib's HMAC-SHA256 and keyed BLAKE2b manage under 0.5 GB/s, slower than the
loopback transfer itself (``bench/frame_mac_cost.py``, ``bench/test_frame_integrity.py``). ``wire.py`` tags
the pieces on worker threads while the socket moves the others; the tags come from ``cryptography`` or from
libcrypto through ctypes, which lets the GIL go while it hashes (``_gmac.py``).

Between two ranks on one host a payload over ``wire.SMALL`` bytes does not travel in its frame but through a
shared-memory ring (``shared_ring.py``); the frames that name its pieces are tagged like any other, the ring's
bytes are not (only the job's user can open its file).

The keys belong to the socket: ``key_connection`` (called by the handshake) registers them, and ``keys_of``
finds them for ``wire.write_message`` and ``wire.read_message``. A socket that never went through the
handshake has none, and its frames travel without tags.
"""
import hashlib
import hmac
import struct
import threading
import weakref

from ._gmac import IMPLEMENTATION, TAG_BYTES, Gmac  # noqa: F401 - TAG_BYTES: wire.py's, from here
from .errors import FrameIntegrityError

if IMPLEMENTATION is None:  # pragma: no cover - the dist extras install cryptography
    raise ImportError("sparktensor's distributed connections authenticate every frame with AES-GMAC from OpenSSL's "
                      "libcrypto, which could not be loaded here, or from the 'cryptography' package: pip install "
                      "cryptography (or sparktensor[spark] / sparktensor[dask])")

_HEADER, _PAYLOAD = 0xFFFFFFFF, 0xFFFFFFFE  # the nonce's piece index of the two tags a frame carries
_NONCE = struct.Struct("<QI")  # frame number in its direction, piece index: 12 bytes
_KEYED = weakref.WeakKeyDictionary()  # socket -> ConnectionKeys
_LOCK = threading.Lock()


class FrameMac:
    """The tags of the frames going one way on one connection, numbered from 0."""

    def __init__(self, key, implementation=None):
        self._gmac = Gmac(key, implementation)
        self.frame = self._current = 0
        self._pieces = []
        self.broken = False

    def header(self, header):
        """The tag of the next frame's header; starts that frame."""
        self._pieces, self._current = [], self.frame
        return self._tag(_HEADER, header)

    def piece(self, data):
        """Take in the frame's next payload piece (``wire.PIECE`` bytes, or the rest)."""
        if len(self._pieces) >= _PAYLOAD:
            raise ValueError(f"a frame of more than {_PAYLOAD} pieces cannot be tagged")
        self._pieces.append(self._tag(len(self._pieces), data))

    def piece_tags(self, data, first, piece_bytes):
        """The tags of ``data`` cut in pieces of ``piece_bytes``, the first being the frame's piece ``first``.

        Safe on any thread while the frame is under way: the pieces' tags are independent of each other."""
        count = -(-len(data) // piece_bytes)
        if first + count > _PAYLOAD:
            raise ValueError(f"a frame of more than {_PAYLOAD} pieces cannot be tagged")
        if count == 0:
            return []
        return self._gmac.tags([_NONCE.pack(self.frame, first + k) for k in range(count)], data, piece_bytes)

    def payload(self, piece_tags=None):
        """The tag over the frame's payload (over ``piece_tags``, all its pieces' tags in order, or over those
        ``piece`` took in); ends the frame (the next one gets the next number)."""
        tags = self._pieces if piece_tags is None else piece_tags
        tag = self._tag(_PAYLOAD, b"".join(tags))
        self._pieces = []
        self.frame += 1
        return tag

    def check(self, expected, received, what, peer):
        """Raise ``FrameIntegrityError`` naming ``peer`` unless ``received`` is ``expected``; a failure is for good."""
        if self.broken or not hmac.compare_digest(expected, received):
            self.fail(what, peer)

    def fail(self, what, peer):
        """Raise ``FrameIntegrityError`` for this frame's ``what`` (header, payload); nothing later passes."""
        self.broken = True  # the stream lost its place: nothing later on it can be trusted
        raise FrameIntegrityError(
            f"frame {self._current} from {_name(peer)} failed its integrity check ({what}): it was changed, "
            f"replayed, reordered or cut short on the way, or sent without this connection's key", peer)

    def _tag(self, index, data):
        return self._gmac.tag(_NONCE.pack(self.frame, index), data)


class ConnectionKeys:
    """The two ``FrameMac`` of one end of a connection: ``sending`` and ``receiving``."""

    __slots__ = ("sending", "receiving")

    def __init__(self, sending, receiving):
        self.sending, self.receiving = sending, receiving


def key_connection(sock, job_key, client_nonce, server_nonce, ranks, client):
    """Derive the keys of ``sock`` from the handshake's values and register them (``client``: the side that
    connected)."""
    prk = hmac.new(client_nonce + server_nonce, job_key, hashlib.sha256).digest()  # HKDF-Extract
    to_server, to_client = (_expand(prk, b"client to server " + ranks), _expand(prk, b"server to client " + ranks))
    keys = (ConnectionKeys(FrameMac(to_server), FrameMac(to_client)) if client
            else ConnectionKeys(FrameMac(to_client), FrameMac(to_server)))
    with _LOCK:
        _KEYED[sock] = keys
    return keys


def keys_of(sock):
    """The ``ConnectionKeys`` the handshake gave ``sock``, or None (a socket that had no handshake)."""
    return _KEYED.get(sock)


def _expand(prk, info):
    """HKDF-Expand to 32 bytes (one block): an AES-256 key."""
    return hmac.new(prk, b"sparktensor frames " + info + b"\x01", hashlib.sha256).digest()


def _name(peer):
    return f"rank {peer}" if isinstance(peer, int) else str(peer)
