"""What tagging one frame costs: one 10M-float32 array (40 MB, a 10M-parameter weight buffer) over a loopback TCP
connection in the wire format, on a connection without keys, on a keyed one (the shipped tags: AES-GMAC per
piece, ``comm/frames.py``), and with the standard library's keyed hashes computed piece by piece as the bytes
go out and come in (HMAC-SHA256, keyed BLAKE2b: the fallback there would be without the ``cryptography``
package). The cases alternate, the order flipped every round; medians of rounds 2 on, with min-max, of the
wall-clock time and of the process's CPU time (both ends run in this process).

    python bench/frame_mac_cost.py [rounds]
"""
import hashlib
import hmac
import os
import socket
import sys
import threading
import time

import numpy as np

from sparktensor.dist.comm.auth import client_handshake, new_key, server_handshake
from sparktensor.dist.comm.wire import CHUNK, PIECE, pack_header, read_exactly, read_message, write_message

KEY = os.urandom(32)
HASHES = {"hmac-sha256": lambda: hmac.new(KEY, digestmod=hashlib.sha256),
          "blake2b": lambda: hashlib.blake2b(key=KEY)}


def _connection(keyed):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    if keyed:
        key = new_key()
        thread = threading.Thread(target=client_handshake, args=(client, key, 1, 0))
        thread.start()
        server_handshake(server, key, 0, 2)
        thread.join()
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


def main(rounds=10):
    array = np.random.default_rng(0).standard_normal(10_000_000).astype(np.float32)
    into = np.empty_like(array)
    plain, keyed, hashed = _connection(False), _connection(True), _connection(False)
    cases = {"none": lambda: _wire(plain, array), "aes-gmac (shipped)": lambda: _wire(keyed, array)}
    for name, new_hash in HASHES.items():
        cases[name] = lambda new_hash=new_hash: _hashed(hashed, array, into, new_hash)
    wall, cpu = {name: [] for name in cases}, {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            cases[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    base, base_cpu = np.median(wall["none"][1:]), np.median(cpu["none"][1:])
    print(f"one 40 MB frame over loopback, {rounds} interleaved rounds (medians of rounds 2-{rounds}, min-max); "
          f"tags every {PIECE >> 10} KB, plain reads and writes of {CHUNK >> 20} MB")
    for name in names:
        w, c = np.array(wall[name][1:]) * 1e3, np.array(cpu[name][1:]) * 1e3
        print(f"{name:20s} wall {np.median(w):6.1f} ms ({w.min():.1f}-{w.max():.1f}), "
              f"+{np.median(w) - base * 1e3:6.1f} ms;  CPU {np.median(c):6.1f} ms ({c.min():.1f}-{c.max():.1f}), "
              f"+{np.median(c) - base_cpu * 1e3:6.1f} ms")


def _wire(ends, array):
    writer = threading.Thread(target=write_message, args=(ends[0], "w", array))
    writer.start()
    _, got = read_message(ends[1], 1)
    writer.join()
    assert got.nbytes == array.nbytes


def _hashed(ends, array, into, new_hash):
    writer = threading.Thread(target=_send_hashed, args=(ends[0], array, new_hash))
    writer.start()
    _receive_hashed(ends[1], into, new_hash)
    writer.join()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
