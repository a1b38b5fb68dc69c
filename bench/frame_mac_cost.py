"""What tagging one frame costs: one 10M-float32 array (40 MB, a 10M-parameter weight buffer) over a loopback TCP
connection in the wire format, on a connection without keys, on keyed ones (AES-GMAC per 256 KB piece,
``comm/frames.py``, tagged on worker threads beside the transfer: with the default implementation and with the
other one, libcrypto through ctypes or ``cryptography``), with GMAC as shipped before (``cryptography`` tagging
each piece on the socket's own thread just before it goes out or after it came in), and with the standard library's
keyed hashes computed the same way (HMAC-SHA256, keyed BLAKE2b). The cases alternate, the order flipped every round;
medians of rounds 2 on, with min-max, of the wall-clock time and of the process's CPU time (both ends run in this
process). The first line says how loaded the machine was (load average, cores).

    python bench/frame_mac_cost.py [rounds] [case,case,...]
"""
import hashlib
import hmac
import os
import socket
import sys
import threading
import time

import numpy as np

from sparktensor.dist.comm import _gmac
from sparktensor.dist.comm.auth import client_handshake, new_key, server_handshake
from sparktensor.dist.comm.frames import FrameMac, keys_of
from sparktensor.dist.comm.wire import CHUNK, PIECE, pack_header, read_exactly, read_message, write_message

KEY = os.urandom(32)


class _SerialGmac:
    """GMAC tags of 256 KB pieces taken in one by one with ``cryptography`` (the frames' tags as shipped before)."""

    digest_size = 16

    def __init__(self):
        self._mac = FrameMac(KEY, "cryptography")

    def update(self, piece):
        self._mac.piece(piece)

    def digest(self):
        return self._mac.payload()


HASHES = {"aes-gmac before": _SerialGmac,
          "hmac-sha256": lambda: hmac.new(KEY, digestmod=hashlib.sha256),
          "blake2b": lambda: hashlib.blake2b(key=KEY)}


def _connection(keyed, implementation=None):
    """The two ends of a loopback connection, keyed by the real handshake if ``keyed`` (its tags computed by
    ``implementation``, the default if None)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    if keyed:
        key, default = new_key(), _gmac.IMPLEMENTATION
        _gmac.IMPLEMENTATION = implementation or default
        thread = threading.Thread(target=client_handshake, args=(client, key, 1, 0))
        thread.start()
        server_handshake(server, key, 0, 2)
        thread.join()
        _gmac.IMPLEMENTATION = default
        assert keys_of(client).sending._gmac.implementation == (implementation or default)
    return client, server


def _send_hashed(sock, array, new_hash):
    payload = memoryview(array.reshape(-1).view(np.uint8))
    sock.sendall(pack_header("w", array))
    state = new_hash()
    for start in range(0, len(payload), PIECE):
        piece = payload[start:start + PIECE]
        state.update(piece)
        sock.sendall(piece)
    sock.sendall(state.digest())


def _receive_hashed(sock, array, new_hash):
    read_exactly(sock, len(pack_header("w", array)))
    view = memoryview(array.reshape(-1).view(np.uint8))
    state = new_hash()
    for start in range(0, len(view), PIECE):
        piece, got = view[start:start + PIECE], 0
        while got < len(piece):
            got += sock.recv_into(piece[got:])
        state.update(piece)
    if not hmac.compare_digest(read_exactly(sock, state.digest_size), state.digest()):
        raise ValueError("frame failed its check")


def main(rounds=10, only=None):
    array = np.random.default_rng(0).standard_normal(10_000_000).astype(np.float32)
    into = np.empty_like(array)
    plain, hashed = _connection(False), _connection(False)
    cases = {"none": lambda: _wire(plain, array)}
    for implementation in sorted(_gmac.AVAILABLE, key=lambda name: name != _gmac.IMPLEMENTATION):
        keyed = _connection(True, implementation)
        cases[f"aes-gmac {implementation}"] = lambda keyed=keyed: _wire(keyed, array)
    for name, new_hash in HASHES.items():
        cases[name] = lambda new_hash=new_hash: _hashed(hashed, array, into, new_hash)
    if only:
        cases = {name: case for name, case in cases.items() if name == "none" or name in only}
    wall, cpu, path = ({name: [] for name in cases} for _ in range(3))
    names = list(cases)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            sending, receiving = cases[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            path[name].append(max(sending, receiving))
    base, base_cpu, base_path = (np.median(x["none"][1:]) for x in (wall, cpu, path))
    print(f"one 40 MB frame over loopback, {rounds} interleaved rounds (medians of rounds 2-{rounds}, min-max); "
          f"tags every {PIECE >> 10} KB, plain reads and writes of {CHUNK >> 20} MB; default GMAC "
          f"{_gmac.IMPLEMENTATION}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("wall-clock; CPU time of the process (both ends, all threads); CPU time of the busier of the two socket "
          "threads (the sender's, the receiver's: the transfer's path, the wall-clock time where cores are free)")
    for name in names:
        w, c, p = (np.array(x[name][1:]) * 1e3 for x in (wall, cpu, path))
        print(f"{name:22s} wall {np.median(w):6.1f} ms ({w.min():.1f}-{w.max():.1f}) "
              f"{np.median(w) - base * 1e3:+6.1f}; "
              f"CPU {np.median(c):5.1f} ms ({c.min():.1f}-{c.max():.1f}) {np.median(c) - base_cpu * 1e3:+5.1f}; "
              f"path {np.median(p):5.1f} ms ({p.min():.1f}-{p.max():.1f}) {np.median(p) - base_path * 1e3:+5.1f} "
              f"({np.median(p) / base_path / 1e3 - 1:+.0%})")


def _wire(ends, array):
    return _both(write_message, (ends[0], "w", array), read_message, (ends[1], 1))


def _hashed(ends, array, into, new_hash):
    return _both(_send_hashed, (ends[0], array, new_hash), _receive_hashed, (ends[1], into, new_hash))


def _both(send, send_args, receive, receive_args):
    """Run ``send`` on a thread and ``receive`` here; the CPU seconds of each of the two threads."""
    sending = []

    def timed_send():
        start = time.thread_time()
        send(*send_args)
        sending.append(time.thread_time() - start)

    writer = threading.Thread(target=timed_send)
    writer.start()
    start = time.thread_time()
    receive(*receive_args)
    receiving = time.thread_time() - start
    writer.join()
    return sending[0], receiving


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, sys.argv[2].split(",") if len(sys.argv) > 2 else None)
