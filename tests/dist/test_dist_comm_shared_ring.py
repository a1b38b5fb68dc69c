"""Ranks on one host move payloads through a shared-memory ring: arrays arrive whole and in order, the ring's file
is private and gone from /dev/shm once mapped, and a connection whose peer cannot open the ring stays on TCP.

Real transports over loopback (two in this process, or two processes of a gang) and real files in /dev/shm.
"""
import os
import stat
import subprocess
import threading
import time

import numpy as np
import pytest

import sparktensor.dist as dist
from sparktensor.dist.comm import CommError
from sparktensor.dist.comm.auth import new_key
from sparktensor.dist.comm.shared_ring import (FREE, HEAD, HEADER, OPEN, READY, REFUSED, SHM_DIR, ReceiveRing,
                                               RingReader, SendRing, configured_bytes)
from sparktensor.dist.comm.sockets import SocketTransport, open_listener
from sparktensor.dist.comm.wire import SMALL, pack_header

pytestmark = pytest.mark.skipif(not os.path.isdir(SHM_DIR), reason="this host has no /dev/shm")


def _ring_files():
    """This user's ring files in /dev/shm (another user's, or another run's, are not this test's business)."""
    names = []
    for name in os.listdir(SHM_DIR):
        try:
            if name.startswith("sparktensor-ring-") and os.stat(os.path.join(SHM_DIR, name)).st_uid == os.geteuid():
                names.append(name)
        except FileNotFoundError:
            pass
    return sorted(names)


def _pair(bytes_0, bytes_1):
    """Ranks 0 and 1 of a gang in this process, each with rings of the given size on its outgoing connections."""
    key, listeners = new_key(), [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    return [SocketTransport(rank, addresses, key, listeners[rank], timeout=10, shared_memory=size)
            for rank, size in enumerate((bytes_0, bytes_1))]


def _answered(writer, timeout=10.0):
    """Wait until the peer has answered ``writer``'s invitation (opened its ring, or refused it)."""
    deadline = time.monotonic() + timeout
    while not writer.ring_ready and writer.ring is not None:
        assert time.monotonic() < deadline, "the peer never answered the ring's invitation"
        time.sleep(0.01)


def _invite(rank0, rank1):
    """Rank 1's first payload over ``SMALL`` to rank 0 (it goes on the socket, and rank 1 offers its ring with
    it); returns rank 1's writer to rank 0 once rank 0 has answered."""
    first = np.arange(SMALL // 4 + 1, dtype=np.float32)
    rank1.post(0, "g", first).wait(10)
    np.testing.assert_array_equal(rank0.recv(1, "g", timeout=10), first)
    writer = rank1._writers[0]
    _answered(writer)
    return writer


@pytest.fixture
def ranks():
    before = _ring_files()
    pair = _pair(1 << 20, 1 << 20)  # pieces of 256 KiB: a few MB wrap around the ring several times
    yield pair
    for rank in pair:
        rank.close(flush_timeout=5)
    assert _ring_files() == before  # nothing left behind in /dev/shm


def test_arrays_arrive_whole_and_in_order_through_the_ring(ranks):
    rank0, rank1 = ranks
    rank1.post(0, "g", np.arange(3)).wait(10)
    np.testing.assert_array_equal(rank0.recv(1, "g", timeout=10), np.arange(3))
    assert rank1._writers[0].ring is None  # small messages alone reserve no shared memory
    writer = _invite(rank0, rank1)
    assert writer.ring_ready
    before = _ring_files()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((700, 1000)).astype(np.float32),  # 2.8 MB: 11 pieces
              np.arange(SMALL // 8 + 1, dtype=np.int64),  # just over the size that stays on the socket
              np.arange(10, dtype=np.int16),  # small: on the socket, between two ring messages
              rng.standard_normal((300, 400)).T,  # not contiguous: made so on the way
              (rng.random(200_000) > 0.5),  # bool
              rng.standard_normal((5, 7, 3000)) + 1j]  # complex, 3-d
    tags = ["g", "g.1", "g:p", "g.2", "g.3", "g.4"]
    written = writer.ring.written
    handles = [rank1.post(0, tag, array) for tag, array in zip(tags, arrays)]
    for handle in handles:
        handle.wait(10)
    for tag, array in zip(tags[::-1], arrays[::-1]):  # asked for in another order than sent: kept until asked
        got = rank0.recv(1, tag, timeout=10)
        assert got.dtype == array.dtype and got.shape == array.shape
        np.testing.assert_array_equal(got, array)
    through_ring = sum(a.nbytes for a in arrays if a.nbytes > SMALL)
    assert writer.ring.written - written >= through_ring  # (plus what was skipped at the ring's end)
    assert _ring_files() == before


def test_the_ring_file_is_private_and_its_name_gone_once_the_peer_mapped_it():
    ring = SendRing(1 << 16)
    try:
        info = os.stat(ring.path)
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
        opened = ReceiveRing(ring.invitation())
        assert not os.path.exists(ring.path)
        ring.write(100, memoryview(b"both sides see it"))
        into = np.empty(17, np.uint8)
        opened.read(100, 17, into)
        assert into.tobytes() == b"both sides see it"
    finally:
        ring.close()


def test_a_ring_that_is_not_the_senders_is_refused():
    ring = SendRing(1 << 16)
    try:
        text = ring.invitation().tobytes().decode().replace(ring.nonce.hex(), "00" * 16)
        with pytest.raises(ValueError, match="does not hold the sender's nonce"):
            ReceiveRing(np.frombuffer(text.encode(), np.uint8))
        with pytest.raises(FileNotFoundError):  # the name does not exist on this host (another host's ring)
            ReceiveRing(np.frombuffer(text.replace(ring.name[-8:], "0" * 8).encode(), np.uint8))
        with pytest.raises(ValueError, match="malformed shared-memory invitation"):
            ReceiveRing(np.frombuffer(text.replace(ring.name, "../etc/passwd").encode(), np.uint8))
    finally:
        ring.close()
    assert not os.path.exists(ring.path)


def test_a_peer_with_rings_off_refuses_and_the_connection_stays_on_tcp():
    before = _ring_files()
    rank0, rank1 = _pair(0, 1 << 20)  # rank 0 does not open rings
    try:
        writer = _invite(rank0, rank1)
        assert writer.ring is None and not writer.ring_ready
        big = np.arange(1 << 20, dtype=np.float32)
        rank1.post(0, "g", big).wait(10)
        np.testing.assert_array_equal(rank0.recv(1, "g", timeout=10), big)
        assert _ring_files() == before
    finally:
        rank1.close(flush_timeout=5)
        rank0.close(flush_timeout=5)


def test_a_gang_of_processes_reduces_through_the_ring():
    def body(comm):
        comm.all_gather(np.zeros(SMALL // 8 + 1))  # the first payload over SMALL offers the ring
        writer = comm.transport._writers[1 - comm.rank]
        _answered(writer)
        x = np.arange(1_500_000, dtype=np.float64) * (comm.rank + 1)
        total = comm.all_reduce(x)
        return total, writer.ring_ready, writer.ring.written if writer.ring is not None else 0

    results = dist.LocalEngine().run_gang(body, 2, mode="processes", timeout=60)
    expected = np.arange(1_500_000, dtype=np.float64) * 3
    for total, ready, written in results:
        np.testing.assert_array_equal(total, expected)
        assert ready and written >= 1_500_000 * 8 // 2  # at least the reduce-scatter's half went through the ring


def test_a_sender_waits_for_room_and_gives_up_when_told():
    ring = SendRing(1 << 16)
    try:
        first = ring.reserve(1 << 15, check=lambda: None)
        ring.reserve(1 << 15, check=lambda: None)  # the ring is full
        looks = []

        def give_up():
            looks.append(1)
            if len(looks) == 2:
                raise CommError("rank 1 gave up")
        with pytest.raises(CommError, match="gave up"):
            ring.reserve(1 << 14, check=give_up)
        ring.release(first[1])  # the receiver has read the first piece
        assert ring.reserve(1 << 14, check=lambda: pytest.fail("there was room")) == (0, (1 << 16) + (1 << 14))
        with pytest.raises(ValueError, match="1 to 65536 bytes"):
            ring.reserve((1 << 16) + 1, check=lambda: None)
    finally:
        ring.close()


def test_a_piece_outside_the_ring_fails_the_connection_naming_the_sender():
    ring, answers = SendRing(1 << 16), []
    reader = RingReader(3, lambda tag, array: answers.append(tag), enabled=lambda: True)
    try:
        reader.handle(OPEN, ring.invitation())
        assert answers == [READY]
        array = np.ones(100, np.float32)
        where = np.array([(1 << 16) - 100, 400, 1 << 16], np.int64)  # runs past the ring's end
        with pytest.raises(CommError, match="rank 3 sent a malformed shared-memory piece"):
            reader.handle(HEADER, np.frombuffer(where.tobytes() + pack_header("g", array), np.uint8))
        with pytest.raises(CommError, match="rank 3 sent a 'wrong' frame"):
            reader.handle("wrong", array)
    finally:
        ring.close()


def test_a_reader_with_rings_off_refuses_the_invitation():
    ring, answers = SendRing(1 << 16), []
    try:
        RingReader(1, lambda tag, array: answers.append((tag, array.tobytes())), enabled=lambda: False).handle(
            OPEN, ring.invitation())
        assert answers == [(REFUSED, b"shared memory is off on this rank")]
    finally:
        ring.close()


def test_the_receiver_frees_room_every_half_ring():
    ring, answers = SendRing(1 << 16), []
    reader = RingReader(1, lambda tag, array: answers.append((tag, int(array[0])) if tag == FREE else tag),
                        enabled=lambda: True)
    try:
        reader.handle(OPEN, ring.invitation())
        array = np.arange(1 << 12, dtype=np.float32)  # 16 KiB: a quarter of the ring
        for k in range(4):
            offset, end = ring.reserve(array.nbytes, check=lambda: None)
            ring.write(offset, memoryview(array.view(np.uint8)))
            where = np.array([offset, array.nbytes, end], np.int64)
            tag, got = reader.handle(HEADER, np.frombuffer(where.tobytes() + pack_header("g", array), np.uint8))
            np.testing.assert_array_equal(got, array)
        assert answers == [READY, (FREE, 1 << 15), (FREE, 1 << 16)]
    finally:
        ring.close()


def test_the_ring_size_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SPARKTENSOR_SHM_BYTES", "0")
    assert configured_bytes() == 0
    monkeypatch.setenv("SPARKTENSOR_SHM_BYTES", "4096")
    assert configured_bytes() == 4096
    monkeypatch.setenv("SPARKTENSOR_SHM_BYTES", "lots")
    with pytest.raises(ValueError, match="SPARKTENSOR_SHM_BYTES='lots'"):
        configured_bytes()


def test_a_sender_whose_peer_reads_nothing_times_out_naming_it(monkeypatch):
    stuck, entered = threading.Event(), threading.Event()

    def read_nothing(ring, offset, n, into):  # rank 0's reader takes the first piece and never finishes it
        entered.set()
        stuck.wait(30)
    monkeypatch.setattr(ReceiveRing, "read", read_nothing)
    key, listeners = new_key(), [open_listener(), open_listener()]
    addresses = [listener.getsockname() for listener in listeners]
    rank0, rank1 = (SocketTransport(rank, addresses, key, listeners[rank], timeout=1, shared_memory=1 << 20)
                    for rank in range(2))
    try:
        _invite(rank0, rank1)
        started = time.monotonic()
        sends = [rank1.post(0, "g", np.zeros(1 << 16, np.float32)) for _ in range(8)]  # 2 MiB into a 1 MiB ring
        with pytest.raises(CommError, match="rank 1 timed out sending to rank 0: rank 0 read nothing of its "
                                            "shared-memory ring for 1 s"):
            for sent in sends:
                sent.wait(10)
        assert entered.is_set() and time.monotonic() - started < 8
    finally:
        stuck.set()
        rank1.close(flush_timeout=1)
        rank0.close(flush_timeout=1)


def test_a_sender_waiting_for_room_stops_when_its_peer_closes(monkeypatch):
    stuck = threading.Event()
    monkeypatch.setattr(ReceiveRing, "read", lambda ring, offset, n, into: stuck.wait(30))
    rank0, rank1 = _pair(1 << 20, 1 << 20)
    try:
        _invite(rank0, rank1)
        sends = [rank1.post(0, "g", np.zeros(1 << 16, np.float32)) for _ in range(8)]
        time.sleep(0.5)  # rank 1 now waits for room that rank 0's stuck reader never frees
        started = time.monotonic()
        closing = threading.Thread(target=rank0.close, kwargs={"flush_timeout": 1})
        closing.start()
        with pytest.raises(CommError, match="rank 0 closed its communicator while rank 1 was sending to it"):
            for sent in sends:
                sent.wait(10)
        assert time.monotonic() - started < 5  # not the transport's timeout of 10 s
    finally:
        stuck.set()
        closing.join(10)
        rank1.close(flush_timeout=1)


def test_a_ring_file_not_private_or_of_another_size_is_refused_and_left_alone():
    ring = SendRing(1 << 16)
    try:
        os.chmod(ring.path, 0o644)
        with pytest.raises(ValueError, match="not a regular file private to this user"):
            ReceiveRing(ring.invitation())
        os.chmod(ring.path, 0o600)
        text = ring.invitation().tobytes().decode().replace('"size": 65536', '"size": 4096')
        with pytest.raises(ValueError, match=f"not the {HEAD + 4096} announced"):
            ReceiveRing(np.frombuffer(text.encode(), np.uint8))
        assert os.path.exists(ring.path)  # a refused ring is not the receiver's to remove
        link = os.path.join(SHM_DIR, f"sparktensor-ring-{os.getpid()}-{'0' * 32}")
        os.symlink(ring.path, link)
        try:
            with pytest.raises(OSError):  # a link is not followed
                ReceiveRing(np.frombuffer(ring.invitation().tobytes().decode().replace(ring.name, os.path.basename(
                    link)).encode(), np.uint8))
        finally:
            os.unlink(link)
    finally:
        ring.close()


def test_a_ring_file_whose_creator_died_is_removed_by_the_next_ring():
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = finished.pid  # a process that has exited and been reaped
    orphan = os.path.join(SHM_DIR, f"sparktensor-ring-{dead}-{'a' * 32}")
    living = os.path.join(SHM_DIR, f"sparktensor-ring-{os.getppid()}-{'b' * 32}")
    for path in (orphan, living):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    try:
        SendRing(1 << 12).close()
        assert not os.path.exists(orphan) and os.path.exists(living)
    finally:
        for path in (orphan, living):
            if os.path.exists(path):
                os.unlink(path)


def test_a_rank_under_a_memory_cap_maps_its_rings_in_its_warm_up_and_none_after():
    def body(comm):
        from sparktensor.dist.sharding import Mesh
        from sparktensor.dist.trainers.hybrid.rank import _warm_up

        def mapped():
            with open("/proc/self/maps") as maps:
                return sum("sparktensor-ring" in line for line in maps)
        before = mapped()
        _warm_up(Mesh(1, 2).bind(comm))
        after_warm_up = mapped()
        x = comm.all_reduce(np.ones(1 << 20))  # what training would send: no new ring now
        after_training = mapped()
        comm.barrier()  # (a rank that returns closes its connections, and its peer's reader unmaps its ring)
        return before, after_warm_up, after_training, comm.transport.shared_memory, float(x[0])

    for before, after_warm_up, after_training, shared_memory, x in dist.LocalEngine().run_gang(
            body, 2, mode="processes", timeout=60):
        assert (before, after_warm_up, after_training) == (0, 2, 2)  # its own ring and its peer's
        assert shared_memory == 0 and x == 2.0
