"""All-reduce bandwidth between 2 processes over loopback, against a plain socket copy of the same bytes.

Both ranks of a gang (``run_processes``: the socket transport, as on Spark) stay up for the whole module
and wait for commands from the benchmark on a control connection; one timed round sends a command to both
and waits for both answers, so the reference pays the same control overhead. The reference is the
cheapest way to move the bytes: one ``sendall`` of the buffer from rank 0 to rank 1 over a raw TCP
connection, received with ``recv_into`` into a preallocated array. A 2-rank ring all-reduce sends the same
number of bytes from each rank (half in the reduce-scatter, half in the all-gather), in both directions at
once, plus the additions. Bandwidth below is buffer size / median time.

Both gangs stay up for the whole module; for each size the two kinds are timed in interleaved rounds
(``bench/interleave.py``): a round times a block of calls of one kind (after one untimed call) and keeps their
median, then a block of the other, the order flipped every round. The ratio is the all-reduce's time over the
copy's, the median (min-max) of the rounds' ratios.

Run: ``python -m pytest bench/test_allreduce.py --benchmark-only -s -q`` (``BENCH_ROUNDS``, default 5;
``BENCH_CALLS`` overrides the calls per block, which default to 30, 15, 8 and 4 for 1, 4, 16 and 64 MB).
"""
import socket
import statistics
import struct
import threading

import numpy as np
import pytest

from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary
from sparktensor.dist.engines.local_gang import run_processes

SIZES_MB = [1, 4, 16, 64]
CALLS = {1: 30, 4: 15, 16: 8, 64: 4}
ROLES = {"all_reduce": "sparktensor", "copy": "socket copy"}
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


@pytest.mark.parametrize("megabytes", SIZES_MB)
def test_allreduce_bandwidth(benchmark, record, gangs, megabytes):
    case = f"all-reduce {megabytes} MB float32, 2 processes, loopback"
    benchmark.group = case
    nbytes = megabytes << 20
    calls = calls_per_block(CALLS[megabytes])
    sides = {ROLES[kind]: (lambda gang=gang: median_seconds(lambda: gang.round(nbytes), calls))
             for kind, gang in gangs.items()}
    found = benchmark.pedantic(interleaved, (sides, ROUNDS), rounds=1)
    record(case, "socket copy", found["sparktensor"], found["socket copy"])
    for role, seconds in found.items():
        BANDWIDTH[(megabytes, role)] = nbytes / statistics.median(seconds) / 1e9
    ratio = ratio_summary(found["sparktensor"], found["socket copy"])
    print(f"\n{case}: sparktensor {BANDWIDTH[(megabytes, 'sparktensor')]:.2f} GB/s, socket copy "
          f"{BANDWIDTH[(megabytes, 'socket copy')]:.2f} GB/s (size / median time); all-reduce / copy time {ratio} "
          f"({ROUNDS} interleaved rounds of {calls} calls)")
    assert np.isfinite(ratio.median)
