"""The two AES-GMAC implementations of the frames' tags: the same bits as ``cryptography``'s AES-GCM, either end
reading what the other wrote (large frames, tagged on worker threads), libcrypto letting other threads run."""
import socket
import threading
import time

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sparktensor.dist.comm import _gmac
from sparktensor.dist.comm.auth import client_handshake, new_key, server_handshake
from sparktensor.dist.comm.frames import FrameMac, keys_of
from sparktensor.dist.comm.wire import BATCH, PIECE, read_message, write_message

needs_libcrypto = pytest.mark.skipif("libcrypto" not in _gmac.AVAILABLE, reason="libcrypto cannot be loaded here")
IMPLEMENTATIONS = [pytest.param("libcrypto", marks=needs_libcrypto), "cryptography"]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("nbytes", [0, 1, 15, 16, 17, 1000, PIECE - 1, PIECE, 3 * PIECE + 5])
def test_a_tag_is_aes_gcm_over_associated_data_only(implementation, nbytes):
    rng = np.random.default_rng(nbytes)
    key, nonce, data = rng.bytes(32), rng.bytes(12), rng.bytes(nbytes)
    expected = AESGCM(key).encrypt(nonce, b"", data)
    gmac = _gmac.Gmac(key, implementation)
    readonly = np.frombuffer(data, np.uint8)  # a read-only buffer, as a sent array's can be
    for form in (data, bytearray(data), memoryview(data), readonly, memoryview(readonly.view(np.uint8))):
        assert gmac.tag(nonce, form) == expected
    assert gmac.tag(nonce[::-1], data) != expected or nonce == nonce[::-1]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_pieces_tags_are_each_piece_tagged_alone(implementation):
    rng = np.random.default_rng(1)
    key, data = rng.bytes(32), rng.standard_normal(PIECE // 8 * 3 + 100)  # 3 whole pieces and a partial one
    view = memoryview(data.view(np.uint8))
    nonces = [rng.bytes(12) for _ in range(4)]
    aesgcm = AESGCM(key)
    expected = [aesgcm.encrypt(n, b"", view[k * PIECE:(k + 1) * PIECE]) for k, n in enumerate(nonces)]
    assert _gmac.Gmac(key, implementation).tags(nonces, view, PIECE) == expected
    with pytest.raises(ValueError, match="3 nonces for"):
        _gmac.Gmac(key, implementation).tags(nonces[:3], view, PIECE)


def test_a_bad_key_or_nonce_is_refused_by_name():
    with pytest.raises(ValueError, match="32 bytes, not 16"):
        _gmac.Gmac(bytes(16))
    with pytest.raises(ValueError, match="12 bytes"):
        _gmac.Gmac(bytes(32)).tag(bytes(8), b"data")
    with pytest.raises(ValueError, match="unknown GMAC implementation 'md5'"):
        _gmac.Gmac(bytes(32), "md5")


@needs_libcrypto
def test_libcrypto_lets_another_thread_run_while_it_tags():
    gmac, data = _gmac.Gmac(bytes(32), "libcrypto"), np.random.default_rng(2).bytes(16 << 20)
    counter, during, done = [0], [], threading.Event()

    def tag_repeatedly():
        deadline = time.monotonic() + 20.0  # a busy machine may not run the counting thread in every window
        while len(during) < 12 or (sum(during) == 0 and time.monotonic() < deadline):
            before = counter[0]
            gmac.tag(bytes(12), data)  # a few ms each: the counting thread advances only if the GIL was let go
            during.append(counter[0] - before)
        done.set()

    thread = threading.Thread(target=tag_repeatedly)
    thread.start()
    while not done.is_set():
        counter[0] += 1
    thread.join()
    assert sum(during) > 0, during


def test_the_default_follows_the_environment_and_the_newer_openssl(monkeypatch):
    monkeypatch.setattr(_gmac, "AVAILABLE", ["libcrypto", "cryptography"])
    for asked in ("libcrypto", "cryptography"):
        monkeypatch.setenv("SPARKTENSOR_GMAC", asked)
        assert _gmac._default() == asked
    monkeypatch.setenv("SPARKTENSOR_GMAC", "md5")
    with pytest.raises(ImportError, match="SPARKTENSOR_GMAC='md5'"):
        _gmac._default()
    monkeypatch.delenv("SPARKTENSOR_GMAC")

    class Lib:
        def OpenSSL_version_num(self):
            return 0x30000130

    monkeypatch.setattr(_gmac, "_LIB", Lib())
    for theirs, expected in ((0x40000000, "cryptography"), (0x30000130, "libcrypto"), (0x30000000, "libcrypto")):
        monkeypatch.setattr(_gmac, "_OPENSSL", theirs)
        assert _gmac._default() == expected
    monkeypatch.setattr(_gmac, "_LIB", None)  # libcrypto not loaded: cryptography alone
    monkeypatch.setattr(_gmac, "AVAILABLE", ["cryptography"])
    assert _gmac._default() == "cryptography"
    with pytest.raises(RuntimeError, match="libcrypto AES-GMAC cannot be used here"):
        _gmac.Gmac(bytes(32), "libcrypto")


# ----- the two implementations at the two ends of one connection -----
def _keyed_pair(sending, receiving):
    """A handshaken loopback connection ``(client, server)`` whose client tags with ``sending`` and whose server
    checks with ``receiving`` (the same keys, computed by each implementation)."""
    key = new_key()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=30)
        server, _ = listener.accept()
    server.settimeout(30)
    thread = threading.Thread(target=client_handshake, args=(client, key, 1, 0))
    thread.start()
    server_handshake(server, key, 0, 2)
    thread.join()
    client_keys, server_keys = keys_of(client), keys_of(server)
    client_keys.sending = FrameMac(client_keys.sending._gmac._key, sending)
    server_keys.receiving = FrameMac(server_keys.receiving._gmac._key, receiving)
    return client, server


_LARGE = np.random.default_rng(3).standard_normal(BATCH // 4 * 2 + PIECE // 4 + 1000).astype(np.float32)


@pytest.mark.parametrize("sending", IMPLEMENTATIONS)
@pytest.mark.parametrize("receiving", IMPLEMENTATIONS)
def test_either_implementation_reads_what_the_other_wrote(sending, receiving):
    client, server = _keyed_pair(sending, receiving)
    arrays = [_LARGE, np.arange(PIECE // 8 * 2 + 7, dtype=np.int64), np.arange(3, dtype=np.int8), _LARGE[::-1]]
    try:
        thread = threading.Thread(target=lambda: [write_message(client, "g", a) for a in arrays])
        thread.start()
        for array in arrays:
            tag, got = read_message(server, 1)
            assert tag == "g"
            np.testing.assert_array_equal(got, array)
        thread.join()
    finally:
        client.close()
        server.close()

