"""What tagging every frame costs a ring all-reduce of 10M float32 parameters between 2 processes over loopback.

Both ranks (``run_processes``: the socket transport, as on Spark) hold two communicators: the gang's own, whose
connections tag every frame (``comm/frames.py``: AES-GMAC per 256 KB piece, on worker threads beside the
transfer), and a second one whose connections were made with the handshake's key derivation skipped, so its
frames carry no tags (the wire as it was before); ``BENCH_FRAME_IMPLEMENTATIONS=libcrypto`` (or cryptography)
adds a third whose tags come from that GMAC implementation instead of the default. Each round runs ``REPEATS``
all-reduces on each side, each after a barrier, and keeps the fastest; the order of the sides flips every round;
an all-reduce's time is the slower rank's. The cost of a
round is (tagged - plain) / plain: the share of the communication time the tags add. Goal: under 10% (the
median over rounds; min-max printed beside it). The processes' CPU time per all-reduce (both ranks, all
threads: the copies in and out of the kernel, the additions, the tags) is printed too: on a machine whose
cores are busy with other work it varies less than the wall-clock time; and the part of it spent off the
tagging workers (the threads that move the bytes and add them): what the tags add there is what they add to
the wall-clock time where each rank has a core free for its workers.

Run: ``python -m pytest bench/test_frame_integrity.py --benchmark-only -s -q`` (``BENCH_FRAME_ROUNDS``, default
15; ``BENCH_FRAME_REPEATS``, default 3; ``BENCH_FRAME_PARAMETERS``, default 10M; ``SPARKTENSOR_GMAC=cryptography``
or libcrypto sets the default).
"""
import os
import statistics
import threading
import time

import numpy as np

from sparktensor.dist.engines.local_gang import run_processes

ROUNDS = int(os.environ.get("BENCH_FRAME_ROUNDS", 15))
REPEATS = int(os.environ.get("BENCH_FRAME_REPEATS", 3))
PARAMETERS = int(os.environ.get("BENCH_FRAME_PARAMETERS", 10_000_000))
GOAL = 0.10
# other GMAC implementations raced beside the default (comma-separated: libcrypto, cryptography)
IMPLEMENTATIONS = [name for name in os.environ.get("BENCH_FRAME_IMPLEMENTATIONS", "").split(",") if name]


def _other_communicator(comm, implementation=None):
    """A second communicator between the same ranks whose connections carry no frame tags, or (``implementation``)
    tags computed by that GMAC implementation."""
    from sparktensor.dist.comm import _gmac, auth
    from sparktensor.dist.comm.communicator import Communicator
    from sparktensor.dist.comm.sockets import SocketTransport, open_listener
    listener = open_listener()
    ports = comm.all_gather(np.array([listener.getsockname()[1]]))
    addresses = [("127.0.0.1", int(port)) for port in ports]
    derive, default = auth.key_connection, _gmac.IMPLEMENTATION
    if implementation is None:
        auth.key_connection = lambda *args, **kwargs: None  # the handshake proves the key, then registers no keys
    else:
        _gmac.IMPLEMENTATION = implementation
    try:
        other = Communicator(SocketTransport(comm.rank, addresses, comm.transport.key, listener, timeout=120),
                             timeout=120)
        other.all_reduce(np.ones(4, np.float32))  # both connections made (and their handshakes done on both ends)
    finally:
        auth.key_connection, _gmac.IMPLEMENTATION = derive, default
    other.barrier()  # no rank makes another connection before both have put the defaults back
    return other


def _connections_tagged(comm):
    from sparktensor.dist.comm.frames import keys_of
    transport = comm.transport
    outgoing, incoming = transport.connected()
    socks = [transport._writers[r].sock for r in outgoing] + [transport._incoming[r] for r in incoming]
    return [None if keys_of(sock) is None else keys_of(sock).sending._gmac.implementation for sock in socks]


def _thread_cpu():
    """``{thread ident: (is a tagging worker, CPU seconds)}`` for every thread of this process."""
    cpu = {}
    for thread in threading.enumerate():
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, TypeError):  # (a thread that just ended)
            continue
        cpu[thread.ident] = (thread.name.startswith("sparktensor-frame-tags"), seconds)
    return cpu


def _off_workers(before, after):
    """CPU seconds between ``before`` and ``after`` (``_thread_cpu``) on threads other than the tagging workers."""
    return sum(seconds - before.get(ident, (worker, 0.0))[1] for ident, (worker, seconds) in after.items()
               if not worker)


def _rank(comm, parameters, rounds, repeats, implementations):
    from sparktensor.dist.comm._gmac import IMPLEMENTATION
    sides = {"plain": _other_communicator(comm), f"tagged ({IMPLEMENTATION})": comm}
    sides.update({f"tagged ({name})": _other_communicator(comm, name) for name in implementations})
    x = np.random.default_rng(comm.rank).standard_normal(parameters).astype(np.float32)
    results = {name: side.all_reduce(x) for name, side in sides.items()}  # warm-up, and the same sums
    assert all(np.array_equal(results["plain"], result) for result in results.values())
    tagged = {name: _connections_tagged(side) for name, side in sides.items()}
    assert tagged == {name: [name[8:-1] if name != "plain" else None] * 2 for name in sides}, tagged
    wall = {name: [[] for _ in range(rounds)] for name in sides}  # [round][repeat] seconds
    cpu = {name: [] for name in sides}
    path = {name: [] for name in sides}  # CPU seconds off the tagging workers
    for r in range(rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            for _ in range(repeats):
                sides[name].barrier()
                start, start_cpu, threads = time.perf_counter(), time.process_time(), _thread_cpu()
                sides[name].all_reduce(x)
                wall[name][r].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
                path[name].append(_off_workers(threads, _thread_cpu()))
    for name, side in sides.items():
        if side is not comm:
            side.close()
    return wall, cpu, path


def measure(parameters=PARAMETERS, rounds=ROUNDS, repeats=REPEATS, implementations=IMPLEMENTATIONS):
    """``(best, cpu, path)``: per side (``plain``, ``tagged (its GMAC implementation)``), the fastest all-reduce of
    each round (the slower rank's time), the CPU seconds of both ranks per all-reduce, and those spent off the
    tagging workers."""
    ranks = run_processes(_rank, 2, parameters, rounds, repeats, implementations, timeout=900)
    sides = list(ranks[0][0])
    best = {name: [min(max(wall[name][r][k] for wall, _, _ in ranks) for k in range(repeats)) for r in range(rounds)]
            for name in sides}
    cpu, path = ({name: [sum(rank[which][name][i] for rank in ranks) for i in range(rounds * repeats)]
                  for name in sides} for which in (1, 2))
    return best, cpu, path


def test_frame_tags_cost_against_the_all_reduce_round(benchmark):
    best, cpu, path = benchmark.pedantic(measure, rounds=1, iterations=1)
    ms = lambda xs: f"{statistics.median(xs) * 1e3:.1f} ms ({min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f})"  # noqa: E731
    plain = best["plain"]
    print(f"\nring all-reduce of {PARAMETERS / 1e6:g}M float32 between 2 processes, {ROUNDS} interleaved rounds "
          f"of {REPEATS}, the fastest of each (wall); CPU time of both ranks per all-reduce, and the part of it off "
          f"the tagging workers (the transfer's threads and the additions); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores:")
    for name in best:
        print(f"  {name:24s} wall {ms(best[name])}   CPU {ms(cpu[name])}   off the workers {ms(path[name])}")
    for name in best:
        if name == "plain":
            continue
        added = [(t - p) / p for p, t in zip(plain, best[name])]
        print(f"  {name}: added median {statistics.median(added):+.1%} of the plain round (per-round min "
              f"{min(added):+.1%}, max {max(added):+.1%}); difference of medians "
              f"{(statistics.median(best[name]) - statistics.median(plain)) * 1e3:+.1f} ms; CPU added "
              f"{statistics.median(cpu[name]) / statistics.median(cpu['plain']) - 1:+.1%}, off the workers "
              f"{statistics.median(path[name]) / statistics.median(path['plain']) - 1:+.1%}; goal under {GOAL:.0%}: "
              f"{'met' if statistics.median(added) < GOAL else 'NOT met'}")
