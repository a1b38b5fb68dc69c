"""The socket transport: the wire format, the key, connections made once, and peers that die or go silent."""
import os
import socket
import threading
import time

import numpy as np
import pytest

from sparktensor.dist.comm import CommError
from sparktensor.dist.comm.auth import new_key
from sparktensor.dist.comm.sockets import SocketTransport, open_listener
from sparktensor.dist.comm.wire import CHUNK, pack_header, read_message, write_message
from sparktensor.dist.engines.gang import GangError
from sparktensor.dist.engines.local_gang import run_processes, run_socket_threads


# ----- wire format -----
def _round_trip(array, tag="g.1"):
    a, b = socket.socketpair()
    try:
        writer = threading.Thread(target=write_message, args=(a, tag, array))
        writer.start()
        got = read_message(b, peer=1)
        writer.join()
        return got
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("array", [
    np.float32(2.5) * np.ones(()),
    np.zeros((0, 3), np.int64),
    np.arange(12, dtype=np.float64).reshape(3, 4).T,  # not contiguous
    np.array([True, False]),
    np.arange(6, dtype=np.complex64),
    np.arange(CHUNK // 8 * 3 + 5, dtype=np.float64),  # several chunks and a partial one
], ids=["0-d", "empty", "transposed", "bool", "complex", "large"])
def test_arrays_cross_the_wire_with_shape_dtype_and_bytes(array):
    tag, got = _round_trip(array)
    assert tag == "g.1" and got.shape == array.shape and got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)


def test_a_header_with_an_object_dtype_is_refused():
    header = bytearray(pack_header("g", np.zeros(1, np.int64)))
    header[header.index(b"<i8"):header.index(b"<i8") + 3] = b"|O8"
    a, b = socket.socketpair()
    with a, b:
        a.sendall(bytes(header) + bytes(8))
        with pytest.raises(CommError, match="rank 3 sent a malformed header"):
            read_message(b, peer=3)


# ----- the key -----
def _pair(key_of_rank_1):
    """Rank 0 with a fresh key, and rank 1 with ``key_of_rank_1`` (None: the same key)."""
    key = new_key()
    listeners = [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    ranks = [SocketTransport(0, addresses, key, listeners[0], timeout=5),
             SocketTransport(1, addresses, key_of_rank_1 or key, listeners[1], timeout=5)]
    return ranks


def test_a_connection_without_the_key_is_refused():
    rank0, intruder = _pair(key_of_rank_1=new_key())
    try:
        sent = intruder.post(0, "g", np.ones(3))
        with pytest.raises(CommError, match="rank 0 .*refused the connection from rank 1|could not prove"):
            sent.wait(10)
        with pytest.raises(CommError, match="timed out waiting for a message from rank 1"):
            rank0.recv(1, "g", timeout=0.5)  # nothing got through
        assert rank0.connected() == ([], [])
    finally:
        intruder.close(flush_timeout=1)
        rank0.close(flush_timeout=1)


def test_garbage_on_the_listening_socket_is_refused_and_the_gang_goes_on():
    rank0, rank1 = _pair(key_of_rank_1=None)
    try:
        with socket.create_connection(rank0.addresses[0], timeout=5) as stranger:
            stranger.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(64))
            assert stranger.recv(1) == b""  # rank 0 closed it without a word
        rank1.post(0, "g", np.arange(4)).wait(10)
        tag, got = rank0._next(1, time.monotonic() + 10)
        np.testing.assert_array_equal(got, np.arange(4))
        assert rank0.connected()[1] == [1]
    finally:
        rank1.close(flush_timeout=1)
        rank0.close(flush_timeout=1)


# ----- connections are made once -----
def _many_collectives(comm):
    for _ in range(20):
        comm.all_reduce(np.ones(100))
    comm.all_gather(np.ones(2))
    return comm.transport.connected()


def test_connections_are_made_once_and_reused():
    connected = run_socket_threads(_many_collectives, 3, timeout=20)
    for rank, (outgoing, incoming) in enumerate(connected):
        assert outgoing == [(rank + 1) % 3] and incoming == [(rank - 1) % 3]  # the ring's neighbours only


# ----- peers that die or fall silent -----
def _die_after_first_step(comm, folder, when):
    if comm.rank == 2:
        if when == "after":
            comm.all_reduce(np.ones(10))
        os._exit(7)
    start = time.monotonic()
    try:  # the first step too: rank 2's last sends of it may be lost when it exits, failing that step here
        if when == "after":
            comm.all_reduce(np.ones(10))
        comm.all_reduce(np.ones(10))
    except CommError as e:
        with open(os.path.join(folder, f"rank{comm.rank}.txt"), "w") as f:
            f.write(f"{time.monotonic() - start:.3f}\n{e}")
        raise


@pytest.mark.parametrize("when, timeout", [("after", 30.0), ("before", 3.0)])
def test_when_a_rank_process_dies_the_others_raise_naming_it(tmp_path, when, timeout):
    """The others notice at once (the gang's set-up already connected the ring), well within their timeout."""
    with pytest.raises(GangError, match="rank 2 died"):
        run_processes(_die_after_first_step, 3, str(tmp_path), when, timeout=timeout)
    for rank in (0, 1):
        seconds, message = (tmp_path / f"rank{rank}.txt").read_text().split("\n", 1)
        assert "rank 2" in message, message
        assert float(seconds) < min(5.0, timeout)


def _rank_1_stalls(comm, rank_0_gave_up):
    if comm.rank == 1:
        rank_0_gave_up.wait(30)  # returns only after rank 0 timed out, so the gang's hung-rank deadline cannot win
        return "slept"
    try:
        return comm.all_reduce(np.ones(2))
    except CommError:
        rank_0_gave_up.set()
        raise


def test_a_silent_peer_times_out_naming_it():
    """Rank 0 gives up after 1 s; rank 1 returns after that, within the gang's deadline: not hung."""
    start = time.monotonic()
    with pytest.raises(CommError, match="rank 0 timed out waiting for a message from rank 1"):
        run_socket_threads(_rank_1_stalls, 2, threading.Event(), timeout=1.0)
    assert time.monotonic() - start < 10
