"""What authenticating every frame would cost: one 10M-float32 array (40 MB, the weight buffer of the
10M-parameter round) over a loopback TCP connection with the wire format alone, and with HMAC-SHA256 (or
keyed BLAKE2b) computed chunk by chunk as the bytes go out and come in, so hashing overlaps the transfer.
Plain and authenticated transfers alternate, the order flipped every round; medians of rounds 2 on.

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

from sparktensor.dist.comm.wire import CHUNK, pack_header, read_exactly

KEY = os.urandom(32)
MACS = {"none": None, "hmac-sha256": lambda: hmac.new(KEY, digestmod=hashlib.sha256),
        "blake2b": lambda: hashlib.blake2b(key=KEY)}


def send(sock, array, mac):
    payload = memoryview(array.reshape(-1).view(np.uint8))
    sock.sendall(pack_header("w", array))
    state = mac() if mac else None
    for start in range(0, len(payload), CHUNK):
        chunk = payload[start:start + CHUNK]
        if state:
            state.update(chunk)
        sock.sendall(chunk)
    if state:
        sock.sendall(state.digest())


def receive(sock, array, header_bytes, mac):
    read_exactly(sock, header_bytes)
    view = memoryview(array.reshape(-1).view(np.uint8))
    state = mac() if mac else None
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:got + CHUNK])
        if state:
            state.update(view[got:got + n])
        got += n
    if state and not hmac.compare_digest(read_exactly(sock, state.digest_size), state.digest()):
        raise ValueError("frame failed its check")


def main(rounds=10):
    array = np.random.default_rng(0).standard_normal(10_000_000).astype(np.float32)
    into = np.empty_like(array)
    header_bytes = len(pack_header("w", array))
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    times = {name: [] for name in MACS}
    names = list(MACS)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            sender = threading.Thread(target=send, args=(client, array, MACS[name]))
            sender.start()
            receive(conn, into, header_bytes, MACS[name])
            sender.join()
            times[name].append(time.perf_counter() - start)
    plain = np.median(times["none"][1:])
    for name in names:
        t = np.median(times[name][1:])
        print(f"{name:12s} {t * 1e3:7.1f} ms per 40 MB frame  (+{(t - plain) * 1e3:.1f} ms, {t / plain:.2f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
