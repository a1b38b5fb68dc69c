"""The listening side under stress: failed accepts, silent or unauthenticated clients, malformed frames."""
import errno
import logging
import socket
import struct
import time

import numpy as np
import pytest

from sparktensor.dist.comm import CommError, server
from sparktensor.dist.comm.auth import client_handshake, new_key
from sparktensor.dist.comm.frames import keys_of
from sparktensor.dist.comm.server import DRIVER, MessageServer
from sparktensor.dist.comm.sockets import SocketTransport, open_listener
from sparktensor.dist.comm.wire import read_message, write_message


class _FlakyListener(socket.socket):
    """A real listening socket whose first ``accept`` fails as it does when the process is out of descriptors."""

    failures = 1

    def accept(self):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def _flaky_listener(host="127.0.0.1"):
    listener = _FlakyListener(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(16)
    return listener


class _Echo(MessageServer):
    def handle(self, sock, tag, array):
        write_message(sock, tag, array)


def _echo_once(address, key, timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as sock:
        client_handshake(sock, key, 1, DRIVER)
        write_message(sock, "ping", np.arange(3))
        return read_message(sock, "the server")


def test_the_message_server_keeps_serving_after_a_failed_accept(monkeypatch, caplog):
    monkeypatch.setattr(server.socket, "create_server", lambda address: _flaky_listener(address[0]))
    with caplog.at_level(logging.WARNING, logger="sparktensor.dist"):
        echo = _Echo("127.0.0.1", "echo server", "a client", timeout=5)
        try:
            tag, array = _echo_once(echo.address, echo.key)
        finally:
            echo.close()
    assert tag == "ping" and array.tolist() == [0, 1, 2]
    assert "could not accept a connection" in caplog.text and "Too many open files" in caplog.text


def test_a_rank_keeps_accepting_after_a_failed_accept(caplog):
    key = new_key()
    listeners = [_flaky_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    with caplog.at_level(logging.WARNING, logger="sparktensor.dist.comm"):
        ranks = [SocketTransport(rank, addresses, key, listeners[rank], timeout=5) for rank in range(2)]
        try:
            ranks[1].post(0, "g", np.ones(3)).wait(5)
            np.testing.assert_array_equal(ranks[0].recv(1, "g", timeout=5), np.ones(3))
        finally:
            for rank in ranks:
                rank.close(flush_timeout=1)
    assert "rank 0 could not accept a connection" in caplog.text


def _silent_clients(address, n):
    clients = [socket.create_connection(address, timeout=10) for _ in range(n)]
    time.sleep(0.2)  # let the listener accept them
    return clients


def _closed_after(sock):
    """Seconds until the other end closed ``sock`` (a client that sent nothing)."""
    start = time.monotonic()
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def test_the_message_server_drops_silent_clients_and_caps_them():
    echo = _Echo("127.0.0.1", "echo server", "a client", timeout=60, handshake_timeout=5.0, max_unauthenticated=2)
    silent = _silent_clients(echo.address, 3)
    try:
        assert _closed_after(silent[2]) < 4.0  # over the cap: closed at once, well before the handshake timeout
        for sock in silent[:2]:
            assert _closed_after(sock) < 12.0  # dropped after the handshake timeout, not the 60 s stall timeout
        tag, array = _echo_once(echo.address, echo.key)  # a client holding the key is still served
        assert tag == "ping" and array.tolist() == [0, 1, 2]
    finally:
        for sock in silent:
            sock.close()
        echo.close()


def test_a_rank_drops_silent_clients_and_caps_them(monkeypatch):
    from sparktensor.dist.comm import sockets
    monkeypatch.setattr(sockets, "HANDSHAKE_TIMEOUT", 5.0)
    monkeypatch.setattr(sockets, "MAX_UNAUTHENTICATED", 2)
    key = new_key()
    listeners = [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    rank0 = SocketTransport(0, addresses, key, listeners[0], timeout=30)
    silent = _silent_clients(addresses[0], 3)
    try:
        assert _closed_after(silent[2]) < 4.0  # over the cap: at once, well before the handshake timeout
        for sock in silent[:2]:
            assert _closed_after(sock) < 12.0  # after the handshake timeout, not the 30 s stall timeout
        rank1 = SocketTransport(1, addresses, key, listeners[1], timeout=30)
        try:
            rank1.post(0, "g", np.ones(3)).wait(5)
            np.testing.assert_array_equal(rank0.recv(1, "g", timeout=5), np.ones(3))
        finally:
            rank1.close(flush_timeout=1)
    finally:
        for sock in silent:
            sock.close()
        rank0.close(flush_timeout=1)


# ----- malformed frames from a peer that holds the key -----
def _frame(tag, dtype, shape, nbytes):
    prefix = struct.pack("<HBBQ", len(tag), len(dtype), len(shape), nbytes)
    return prefix + tag + dtype + struct.pack(f"<{len(shape)}q", *shape)


def _send_keyed(sock, header, payload=b""):
    """Send a frame tagged with ``sock``'s keys, as a peer holding the key can, however malformed it is."""
    mac = keys_of(sock).sending
    header_tag = mac.header(header)
    if payload:
        mac.piece(payload)
    sock.sendall(header + header_tag + payload + mac.payload())


_MALFORMED = {  # (header, payload)
    "absurd length": (_frame(b"g", b"|u1", (1 << 61,), 1 << 61), b""),
    "shape overflowing int64": (_frame(b"g", b"|i1", (1 << 32, 1 << 32), 0), b""),
    "tag not utf-8": (_frame(b"\xff\xfe", b"<i8", (1,), 8), bytes(8)),
    "dtype not ascii": (_frame(b"g", b"<\xff8", (1,), 8), bytes(8)),
}


@pytest.mark.parametrize("frame", list(_MALFORMED.values()), ids=list(_MALFORMED))
def test_a_malformed_frame_fails_the_waiting_rank_at_once_naming_the_sender(frame):
    key = new_key()
    listeners = [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    rank0 = SocketTransport(0, addresses, key, listeners[0], timeout=30)
    try:
        with socket.create_connection(addresses[0], timeout=5) as sock:
            client_handshake(sock, key, 1, 0)  # rank 1 holds the key, then sends garbage
            _send_keyed(sock, *frame)
            start = time.monotonic()
            with pytest.raises(CommError, match="rank 1 sent a malformed"):
                rank0.recv(1, "g", timeout=10)
            assert time.monotonic() - start < 3.0  # the reader failed the connection: not a timeout
    finally:
        listeners[1].close()
        rank0.close(flush_timeout=1)


@pytest.mark.parametrize("frame", list(_MALFORMED.values()), ids=list(_MALFORMED))
def test_the_message_server_drops_a_malformed_frame_and_keeps_serving(frame, caplog):
    echo = _Echo("127.0.0.1", "echo server", "a client", timeout=10)
    try:
        with caplog.at_level(logging.WARNING, logger="sparktensor.dist"):
            with socket.create_connection(echo.address, timeout=5) as sock:
                client_handshake(sock, echo.key, 1, DRIVER)
                _send_keyed(sock, *frame)
                assert _closed_after(sock) < 3.0
        assert "malformed" in caplog.text
        tag, array = _echo_once(echo.address, echo.key)
        assert tag == "ping" and array.tolist() == [0, 1, 2]
    finally:
        echo.close()


# ----- the key -----
@pytest.mark.parametrize("key", [b"", b"password", bytes(15), "0" * 64, 32],
                         ids=["empty", "short", "15 bytes", "str", "int"])
def test_a_key_that_is_not_a_secret_is_refused_before_any_connection(key):
    listener = open_listener()
    try:
        with pytest.raises((ValueError, TypeError), match="new_key"):
            SocketTransport(0, [listener.getsockname()] * 2, key, listener, timeout=1)
        with pytest.raises((ValueError, TypeError), match="new_key"):
            _Echo("127.0.0.1", "echo server", "a client", key=key)
        a, b = socket.socketpair()
        with a, b:
            with pytest.raises((ValueError, TypeError), match="new_key"):
                client_handshake(a, key, 1, 0)
            b.setblocking(False)
            with pytest.raises(BlockingIOError):
                b.recv(1)  # nothing was sent under the weak key
    finally:
        listener.close()
