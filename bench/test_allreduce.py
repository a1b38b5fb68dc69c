"""All-reduce bandwidth between 2 processes over loopback, against a plain socket copy of the same bytes.

Both ranks of a gang (``run_processes``: the socket transport, as on Spark) stay up for the whole module
and wait for commands from the benchmark on a control connection; one timed round sends a command to both
and waits for both answers, so the reference pays the same control overhead. The reference is the
cheapest way to move the bytes: one ``sendall`` of the buffer from rank 0 to rank 1 over a raw TCP
connection, received with ``recv_into`` into a preallocated array. A 2-rank ring all-reduce sends the same
number of bytes from each rank (half in the reduce-scatter, half in the all-gather), in both directions at
once, plus the additions. Bandwidth below is buffer size / time.

Run: ``python -m pytest bench/test_allreduce.py --benchmark-only -q``.
"""
import socket
import struct
import threading

import numpy as np
import pytest

from sparktensor.dist.engines.local_gang import run_processes

SIZES_MB = [1, 4, 16, 64]
ROUNDS = {1: 30, 4: 15, 16: 8, 64: 4}
BANDWIDTH = {}


def _serve(comm, control, kind):
    """A rank's loop: read a buffer size from the control connection, run one round, answer; size 0 stops."""
    ctl = socket.create_connection(tuple(control))
    ctl.sendall(struct.pack("<i", comm.rank))
    copy = _raw_connection(comm) if kind == "copy" else None
    buffers = {}
    while True:
        nbytes = struct.unpack("<q", _read(ctl, 8))[0]
        if nbytes == 0:
            break
        x = buffers.setdefault(nbytes, np.ones(nbytes // 4, np.float32))
        if kind == "all_reduce":
            result = comm.all_reduce(x)
            ok = result[0] == 2 and result[-1] == 2
        elif comm.rank == 0:
            copy.sendall(memoryview(x).cast("B"))
            ok = True
        else:
            view, got = memoryview(x).cast("B"), 0
            while got < nbytes:
                got += copy.recv_into(view[got:])
            ok = True
        ctl.sendall(b"k" if ok else b"x")
    ctl.close()
    if copy is not None:
        copy.close()


def _raw_connection(comm):
    """A plain TCP connection from rank 0 to rank 1 (its port travels over the gang's communicator)."""
    if comm.rank == 1:
        listener = socket.create_server(("127.0.0.1", 0))
        comm.send(np.array([listener.getsockname()[1]]), 0)
        conn, _ = listener.accept()
        listener.close()
        return conn
    port = int(comm.recv(1)[0])
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the benchmark's control connection closed")
        data += chunk
    return data


class Gang:
    """Two ranks running ``_serve``, driven from here: ``round(nbytes)`` runs one timed round."""

    def __init__(self, kind):
        listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=run_processes, args=(_serve, 2, listener.getsockname(), kind),
                                       kwargs={"timeout": 120}, daemon=True)
        self.thread.start()
        listener.settimeout(120)
        controls = {}
        for _ in range(2):
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            controls[struct.unpack("<i", _read(conn, 4))[0]] = conn
        listener.close()
        self.controls = [controls[0], controls[1]]

    def round(self, nbytes):
        for conn in self.controls:
            conn.sendall(struct.pack("<q", nbytes))
        answers = [_read(conn, 1) for conn in self.controls]
        assert answers == [b"k", b"k"], f"a rank computed a wrong all-reduce: {answers}"

    def stop(self):
        for conn in self.controls:
            conn.sendall(struct.pack("<q", 0))
            conn.close()
        self.thread.join(60)


@pytest.fixture(scope="module")
def gangs():
    started = {kind: Gang(kind) for kind in ("all_reduce", "copy")}
    yield started
    for gang in started.values():
        gang.stop()


@pytest.mark.parametrize("kind, role", [("all_reduce", "sparktensor"), ("copy", "socket copy")])
@pytest.mark.parametrize("megabytes", SIZES_MB)
def test_allreduce_bandwidth(benchmark, record, gangs, megabytes, kind, role):
    case = f"all-reduce {megabytes} MB float32, 2 processes, loopback"
    benchmark.group = case
    nbytes = megabytes << 20
    gang = gangs[kind]
    benchmark.pedantic(gang.round, args=(nbytes,), rounds=ROUNDS[megabytes], warmup_rounds=1)
    record(benchmark, case, role)
    BANDWIDTH[(megabytes, role)] = nbytes / benchmark.stats.stats.median / 1e9
    print(f"\n{case}, {role}: {BANDWIDTH[(megabytes, role)]:.2f} GB/s (size / median time)")
