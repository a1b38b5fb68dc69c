"""AES-GMAC tags (AES-256-GCM over associated data only), from ``cryptography`` or from libcrypto through ctypes.

``cryptography``'s ``AESGCM(key).encrypt(nonce, b"", data)`` holds the GIL for the whole hash (48.0 does), so while
one thread tags a batch of a frame's pieces no other thread runs Python code. The same tags are computed here by
OpenSSL's libcrypto called through ``ctypes``, which lets the GIL go for the length of every foreign call. Either
way a thread blocked in a socket call (which lets the GIL go too) goes on moving bytes beside the tagging.

Both give the same bits. The default is libcrypto unless ``cryptography`` brings a newer OpenSSL than the system's
(its wheels carry their own): newer ones hash faster on recent processors (OpenSSL 4.0's AVX-512 GHASH tags
40 MB in about 4.6 ms of CPU here, the system's 3.0 in 6.7 ms), and where cores are scarce CPU time counts for more
than the GIL. ``SPARKTENSOR_GMAC=libcrypto`` or ``=cryptography`` sets the default.
"""
import ctypes
import ctypes.util
import os
import threading

import numpy as np

TAG_BYTES = 16
_SET_IVLEN, _GET_TAG = 0x9, 0x10  # EVP_CTRL_GCM_SET_IVLEN, EVP_CTRL_GCM_GET_TAG
_MAX_UPDATE = 1 << 30  # bytes per EVP_EncryptUpdate (its length is a C int)


def _load_libcrypto():
    """libcrypto with the EVP functions GMAC needs declared, or None where it cannot be loaded."""
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib"]
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)  # (CDLL, not PyDLL: every call releases the GIL)
            lib.EVP_aes_256_gcm.restype = ctypes.c_void_p
            lib.EVP_aes_256_gcm.argtypes = []
            lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
            lib.EVP_CIPHER_CTX_new.argtypes = []
            lib.EVP_CIPHER_CTX_free.restype = None
            lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
            lib.EVP_EncryptInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p,
                                               ctypes.c_char_p]
            lib.EVP_EncryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                              ctypes.c_void_p, ctypes.c_int]
            lib.EVP_EncryptFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
            lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
            lib.OpenSSL_version_num.restype = ctypes.c_ulong
            lib.OpenSSL_version_num.argtypes = []
            if lib.EVP_aes_256_gcm():
                return lib
        except (OSError, AttributeError):
            continue
    return None


def _cryptography_openssl():
    """The OpenSSL version number ``cryptography`` runs on, or None without ``cryptography``."""
    try:
        from cryptography.hazmat.bindings._rust import openssl
        return openssl.openssl_version()
    except (ImportError, AttributeError):
        try:
            import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
            return 0  # there, but its OpenSSL unknown
        except ImportError:
            return None


def _default():
    """The implementation a ``Gmac`` uses unless told (``SPARKTENSOR_GMAC``, else the newer OpenSSL's)."""
    asked = os.environ.get("SPARKTENSOR_GMAC", "").lower()
    if asked in AVAILABLE:
        return asked
    if asked:
        raise ImportError(f"SPARKTENSOR_GMAC={asked!r}, but the AES-GMAC implementations here are {AVAILABLE}")
    if _LIB is None or _OPENSSL is None:
        return AVAILABLE[0] if AVAILABLE else None
    return "libcrypto" if _LIB.OpenSSL_version_num() >= _OPENSSL else "cryptography"


_LIB = _load_libcrypto()
_OPENSSL = _cryptography_openssl()
AVAILABLE = (["libcrypto"] if _LIB is not None else []) + (["cryptography"] if _OPENSSL is not None else [])
IMPLEMENTATION = _default()  # the one a ``Gmac`` uses unless told; None where there is none


class _Context:
    """One EVP cipher context keyed once; each tag sets only its nonce (the AES key schedule is kept)."""

    def __init__(self, key):
        self.ctx = _LIB.EVP_CIPHER_CTX_new()
        if not self.ctx:
            raise MemoryError("libcrypto could not allocate a cipher context")
        self._free = _LIB.EVP_CIPHER_CTX_free  # (kept: at interpreter exit the module's names may be gone)
        self._length = ctypes.c_int()
        self._tag = ctypes.create_string_buffer(TAG_BYTES)
        _check(_LIB.EVP_EncryptInit_ex(self.ctx, _LIB.EVP_aes_256_gcm(), None, None, None), "EncryptInit")
        _check(_LIB.EVP_CIPHER_CTX_ctrl(self.ctx, _SET_IVLEN, 12, None), "set the nonce length")
        _check(_LIB.EVP_EncryptInit_ex(self.ctx, None, None, key, None), "set the key")

    def tag(self, nonce, address, nbytes):
        _check(_LIB.EVP_EncryptInit_ex(self.ctx, None, None, None, nonce), "set the nonce")
        for start in range(0, nbytes, _MAX_UPDATE):
            size = min(_MAX_UPDATE, nbytes - start)
            _check(_LIB.EVP_EncryptUpdate(self.ctx, None, ctypes.byref(self._length), address + start, size), "hash")
        _check(_LIB.EVP_EncryptFinal_ex(self.ctx, self._tag, ctypes.byref(self._length)), "finish")
        _check(_LIB.EVP_CIPHER_CTX_ctrl(self.ctx, _GET_TAG, TAG_BYTES, self._tag), "get the tag")
        return self._tag.raw

    def __del__(self):
        if getattr(self, "ctx", None):
            self._free(self.ctx)


class Gmac:
    """AES-GMAC under one 32-byte ``key``: ``tag(nonce, data)`` is ``AESGCM(key).encrypt(nonce, b"", data)``.

    Safe to call from several threads at once (each call takes a context of its own from a free list)."""

    def __init__(self, key, implementation=None):
        implementation = implementation or IMPLEMENTATION
        if implementation not in ("libcrypto", "cryptography"):
            raise ValueError(f"unknown GMAC implementation {implementation!r} (libcrypto or cryptography)")
        if implementation not in AVAILABLE:
            raise RuntimeError(f"the {implementation} AES-GMAC cannot be used here (available: {AVAILABLE})")
        if len(key) != 32:
            raise ValueError(f"an AES-256 key is 32 bytes, not {len(key)}")
        self.implementation, self._key = implementation, bytes(key)
        self._free, self._lock = [], threading.Lock()
        if implementation == "cryptography":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            self._aesgcm = AESGCM(self._key)

    @property
    def releases_gil(self):
        """Whether a tag lets other threads run while it is computed (libcrypto through ctypes)."""
        return self.implementation == "libcrypto"

    def tag(self, nonce, data):
        """The 16-byte tag of ``data`` (bytes or any contiguous buffer) under the 12-byte ``nonce``."""
        return self.tags([nonce], data, max(1, len(memoryview(data).cast("B"))))[0]

    def tags(self, nonces, data, piece_bytes):
        """The tags of ``data`` cut in pieces of ``piece_bytes`` (the last one shorter), under ``nonces``, one a
        piece."""
        view = memoryview(data).cast("B")
        if len(nonces) != max(1, -(-len(view) // piece_bytes)):
            raise ValueError(f"{len(nonces)} nonces for {len(view)} bytes in pieces of {piece_bytes}")
        if any(len(nonce) != 12 for nonce in nonces):
            raise ValueError(f"a GMAC nonce is 12 bytes, not {sorted({len(n) for n in nonces} - {12})}")
        if self.implementation == "cryptography":
            return [self._aesgcm.encrypt(nonce, b"", view[k * piece_bytes:(k + 1) * piece_bytes])
                    for k, nonce in enumerate(nonces)]
        address = np.frombuffer(view, np.uint8).ctypes.data  # (any buffer, read-only ones too; no copy)
        with self._lock:
            context = self._free.pop() if self._free else None
        if context is None:
            context = _Context(self._key)
        try:
            return [context.tag(nonce, address + k * piece_bytes, min(piece_bytes, len(view) - k * piece_bytes))
                    for k, nonce in enumerate(nonces)]
        finally:
            with self._lock:
                self._free.append(context)


def _check(ok, what):
    if ok != 1:
        raise RuntimeError(f"libcrypto failed to {what} for an AES-GMAC tag")
