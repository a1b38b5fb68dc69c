"""Every frame after the handshake is tagged: changed, replayed, reordered, dropped, shortened or mis-tagged frames
fail the connection with ``FrameIntegrityError`` naming the sender, and their payload is never handed over.

Real loopback connections throughout: frames are written by ``write_message``, taken off the receiving socket
as raw bytes, altered, and put back on the wire with a plain ``sendall`` (which adds no tags).
"""
import logging
import socket
import threading

import numpy as np
import pytest

from sparktensor.dist.comm import CommError
from sparktensor.dist.comm.auth import client_handshake, new_key, server_handshake
from sparktensor.dist.comm.errors import FrameIntegrityError
from sparktensor.dist.comm.frames import TAG_BYTES, keys_of
from sparktensor.dist.comm.server import DRIVER, MessageServer
from sparktensor.dist.comm.sockets import SocketTransport, open_listener
from sparktensor.dist.comm.wire import BATCH, PIECE, pack_header, read_exactly, read_message, write_message

_ARRAYS = [np.arange(PIECE // 4 * 2 + 1000, dtype=np.float32),  # two whole pieces and a partial one
           np.linspace(0, 1, 777).reshape(7, 111),  # a small frame: header, payload and tags in one write
           np.arange(5, dtype=np.int16),
           # batches of pieces tagged on worker threads as they go out and come in, the last one after the transfer
           np.arange(BATCH // 8 * 2 + PIECE // 8 + 3, dtype=np.float64)]


def _keyed_pair(key=None):
    """``(client, server)``: the two ends of a loopback connection after the real handshake (ranks 1 and 0)."""
    key = key or new_key()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        server, _ = listener.accept()
    server.settimeout(10)
    done = []
    thread = threading.Thread(target=lambda: done.append(client_handshake(client, key, 1, 0)))
    thread.start()
    assert server_handshake(server, key, 0, 2) == 1
    thread.join()
    assert done == [None]
    return client, server


def _frame_bytes(tag, array):
    return len(pack_header(tag, array)) + TAG_BYTES + array.nbytes + TAG_BYTES


def _capture(writer, reader, arrays, tag="g"):
    """The raw bytes of the frames ``writer`` sends for ``arrays``, taken off ``reader`` unread."""
    thread = threading.Thread(target=lambda: [write_message(writer, tag, a) for a in arrays])
    thread.start()
    frames = [read_exactly(reader, _frame_bytes(tag, a)) for a in arrays]
    thread.join()
    return frames


def _deliver(writer, reader, raw, peer=1):
    """Put ``raw`` on the wire from ``writer`` (no tags added) and read one message at ``reader``."""
    thread = threading.Thread(target=writer.sendall, args=(raw,))
    thread.start()
    try:
        return read_message(reader, peer)
    finally:
        thread.join()


@pytest.fixture
def pair():
    client, server = _keyed_pair()
    yield client, server
    client.close()
    server.close()


def _flip(raw, offset):
    changed = bytearray(raw)
    changed[offset] ^= 0x01
    return bytes(changed)


def test_intact_frames_taken_off_the_wire_and_put_back_arrive_whole(pair):
    client, server = pair
    frames = _capture(client, server, _ARRAYS)
    for raw, array in zip(frames, _ARRAYS):
        tag, got = _deliver(client, server, raw)
        assert tag == "g" and got.dtype == array.dtype
        np.testing.assert_array_equal(got, array)


def _where(array, part):
    header = len(pack_header("g", array))
    return {"shape in the header": header - 1, "header tag": header + 3, "first payload byte": header + TAG_BYTES,
            "a middle payload byte": header + TAG_BYTES + array.nbytes // 2,
            "last payload byte": header + TAG_BYTES + array.nbytes - 1, "payload tag": -1}[part]


@pytest.mark.parametrize("array", _ARRAYS, ids=["3 pieces", "small", "tiny", "several batches"])
@pytest.mark.parametrize("part", ["shape in the header", "header tag", "first payload byte", "a middle payload byte",
                                  "last payload byte", "payload tag"])
def test_a_changed_byte_fails_the_frame_naming_the_sender(pair, array, part):
    client, server = pair
    (raw,) = _capture(client, server, [array])
    with pytest.raises(FrameIntegrityError, match=r"frame 0 from rank 1 failed its integrity check") as error:
        _deliver(client, server, _flip(raw, _where(array, part)))
    assert error.value.peer == 1 and isinstance(error.value, CommError)


def test_a_replayed_frame_fails(pair):
    client, server = pair
    (raw,) = _capture(client, server, [_ARRAYS[1]])
    np.testing.assert_array_equal(_deliver(client, server, raw)[1], _ARRAYS[1])  # once: accepted
    with pytest.raises(FrameIntegrityError, match="frame 1 from rank 1 .*header"):
        _deliver(client, server, raw)  # again: it is not frame 1


def test_reordered_and_dropped_frames_fail(pair):
    client, server = pair
    _, second = _capture(client, server, _ARRAYS[1:3])
    with pytest.raises(FrameIntegrityError, match="frame 0 from rank 1"):
        _deliver(client, server, second)  # the first was dropped, or the two swapped


def test_a_frame_cut_short_inside_a_stream_that_goes_on_fails(pair):
    client, server = pair
    first, second = _capture(client, server, _ARRAYS[:2])
    cut = first[:-TAG_BYTES - 1000] + first[-TAG_BYTES:]  # 1000 payload bytes gone; the rest follows
    with pytest.raises(FrameIntegrityError, match="frame 0 from rank 1 .*payload"):
        _deliver(client, server, cut + second)


@pytest.mark.parametrize("array", [_ARRAYS[0], _ARRAYS[3]], ids=["3 pieces", "several batches"])
def test_a_frame_cut_short_by_the_end_of_the_connection_hands_nothing_over(pair, array):
    client, server = pair
    (raw,) = _capture(client, server, [array])
    client.sendall(raw[:len(raw) // 2])
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionError, match="closed in the middle of a message"):
        read_message(server, 1)


def test_a_wrong_tag_fails_and_the_connection_stays_failed(pair):
    client, server = pair
    first, second = _capture(client, server, _ARRAYS[1:3])
    with pytest.raises(FrameIntegrityError, match="frame 0 .*payload"):
        _deliver(client, server, first[:-TAG_BYTES] + bytes(TAG_BYTES))
    with pytest.raises(FrameIntegrityError):  # the stream lost its place: an intact frame after it fails too
        _deliver(client, server, second)


def test_a_frame_sent_back_the_way_it_came_fails(pair):
    client, server = pair
    (from_server,) = _capture(server, client, [_ARRAYS[2]])  # frame 0 of the other direction
    with pytest.raises(FrameIntegrityError, match="frame 0 from rank 1"):
        _deliver(client, server, from_server)


def test_a_frame_from_another_connection_of_the_same_job_fails():
    key = new_key()
    (a_client, a_server), (b_client, b_server) = _keyed_pair(key), _keyed_pair(key)
    try:
        (raw,) = _capture(a_client, a_server, [_ARRAYS[2]])
        np.testing.assert_array_equal(_deliver(a_client, a_server, raw)[1], _ARRAYS[2])
        with pytest.raises(FrameIntegrityError, match="frame 0 from rank 1"):
            _deliver(b_client, b_server, raw)  # same job key, same frame number, another connection's keys
    finally:
        for sock in (a_client, a_server, b_client, b_server):
            sock.close()


def test_the_two_directions_and_two_connections_have_different_keys():
    key = new_key()
    (a_client, a_server), (b_client, b_server) = _keyed_pair(key), _keyed_pair(key)
    try:
        header = pack_header("g", _ARRAYS[2])
        tags = [keys_of(s).sending.header(header) for s in (a_client, a_server, b_client, b_server)]
        assert len(set(tags)) == 4
        assert keys_of(a_server).receiving.header(header) == tags[0]  # the receiver's check matches its sender
    finally:
        for sock in (a_client, a_server, b_client, b_server):
            sock.close()


# ----- a gang's connection through a proxy that changes one byte -----
class _TamperingProxy:
    """Forwards one TCP connection to ``target``; the byte at ``offset`` of the client-to-server stream (or of the
    server-to-client one: ``back``) arrives flipped."""

    def __init__(self, target, offset, back=None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.target, self.offset, self.back = target, offset, back
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        conn, _ = self.listener.accept()
        upstream = socket.create_connection(self.target)
        threading.Thread(target=_pipe, args=(upstream, conn, self.back), daemon=True).start()
        _pipe(conn, upstream, self.offset)

    def close(self):
        self.listener.close()


def _pipe(src, dst, offset):
    seen = 0
    try:
        while data := src.recv(1 << 16):
            if offset is not None and seen <= offset < seen + len(data):
                data = _flip(data, offset - seen)
            seen += len(data)
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _through_proxy(proxy, addresses, key, listeners):
    """Ranks 0 and 1, rank 1 reaching rank 0 through ``proxy``; every byte on the sockets (no shared-memory
    ring: the frames this tests are those on the wire, and the offsets count from the handshake's end)."""
    return (SocketTransport(0, addresses, key, listeners[0], timeout=10, shared_memory=0),
            SocketTransport(1, [proxy.address, addresses[1]], key, listeners[1], timeout=10, shared_memory=0))


_HANDSHAKE_BYTES = 80  # the client's greeting (48 bytes) and proof (32) before its first frame
_HANDSHAKE_ANSWER_BYTES = 65  # the server's nonce (32), proof (32) and acceptance (1) before its first frame


@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_gang_rank_fails_with_the_named_error_and_never_sees_the_changed_array(where):
    array = np.arange(100_000, dtype=np.float32)
    header = len(pack_header("g", array))
    offset = _HANDSHAKE_BYTES + (header - 2 if where == "header" else header + TAG_BYTES + 4096)
    key, listeners = new_key(), [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    proxy = _TamperingProxy(addresses[0], offset)
    rank0, rank1 = _through_proxy(proxy, addresses, key, listeners)
    try:
        sent = rank1.post(0, "g", array)
        with pytest.raises(FrameIntegrityError, match=f"from rank 1 failed its integrity check \\({where}\\).*"
                                                      f"rank 0 dropped its connection from rank 1") as error:
            rank0.recv(1, "g", timeout=10)
        assert error.value.peer == 1
        with pytest.raises(FrameIntegrityError):  # the failure is for good, not for one message
            rank0.recv(1, "g", timeout=1)
        try:
            sent.wait(10)
        except CommError as e:  # rank 0 may drop the connection before the rest of the frame went out
            assert "rank 0 died or closed its connection while rank 1 was sending" in str(e)
    finally:
        rank1.close(flush_timeout=1)
        rank0.close(flush_timeout=1)
        proxy.close()


def test_an_untouched_gang_connection_through_the_same_proxy_delivers():
    array = np.arange(100_000, dtype=np.float32)
    key, listeners = new_key(), [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    proxy = _TamperingProxy(addresses[0], offset=None)
    rank0, rank1 = _through_proxy(proxy, addresses, key, listeners)
    try:
        rank1.post(0, "g", array).wait(10)
        np.testing.assert_array_equal(rank0.recv(1, "g", timeout=10), array)
    finally:
        rank1.close(flush_timeout=1)
        rank0.close(flush_timeout=1)
        proxy.close()


def test_a_changed_goodbye_fails_the_rank_it_was_sent_to():
    key, listeners = new_key(), [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    proxy = _TamperingProxy(addresses[0], offset=None, back=_HANDSHAKE_ANSWER_BYTES + 3)  # in the goodbye's header
    rank0, rank1 = _through_proxy(proxy, addresses, key, listeners)
    try:
        rank1.post(0, "g", np.ones(3)).wait(10)
        np.testing.assert_array_equal(rank0.recv(1, "g", timeout=10), np.ones(3))
        rank0.close(flush_timeout=1)  # says goodbye on the connection from rank 1: it arrives changed
        with pytest.raises(FrameIntegrityError, match="frame 0 from rank 0 failed its integrity check \\(header\\).*"
                                                      "rank 1 dropped its connection to rank 0") as error:
            rank1.recv(0, "g", timeout=10)
        assert error.value.peer == 0
    finally:
        rank1.close(flush_timeout=1)
        rank0.close(flush_timeout=1)
        proxy.close()


# ----- the driver's message server -----
class _Recorder(MessageServer):
    def __init__(self):
        self.handled = []
        super().__init__("127.0.0.1", "recorder", "a client", timeout=10)

    def handle(self, sock, tag, array):
        self.handled.append((tag, array))
        write_message(sock, "ok", np.empty(0, np.uint8))


def test_the_message_server_drops_a_changed_frame_without_handling_it(caplog):
    server = _Recorder()
    try:
        with caplog.at_level(logging.WARNING, logger="sparktensor.dist"):
            with socket.create_connection(server.address, timeout=10) as sock:
                client_handshake(sock, server.key, 1, DRIVER)
                write_message(sock, "put", np.ones(3))
                assert read_message(sock, "the server")[0] == "ok"  # an intact frame is handled and answered
                mac = keys_of(sock).sending
                header = pack_header("put", np.ones(3))
                payload = bytearray(np.full(3, 2.0).tobytes())
                header_tag = mac.header(header)
                mac.piece(payload)
                payload[0] ^= 0x40  # changed after it was tagged
                sock.sendall(header + header_tag + bytes(payload) + mac.payload())
                with pytest.raises((EOFError, ConnectionError)):
                    read_message(sock, "the server")  # no answer: the connection was dropped
        assert len(server.handled) == 1 and server.handled[0][0] == "put"
        np.testing.assert_array_equal(server.handled[0][1], np.ones(3))
        assert "FrameIntegrityError" in caplog.text and "frame 1 from a client" in caplog.text
    finally:
        server.close()
