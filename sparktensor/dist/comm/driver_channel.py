"""``DriverChannel``: large arrays between the driver and Spark tasks over direct, authenticated TCP connections.

Spark moves a task's result to the driver by pickling it in the Python worker, handing it to the executor's
JVM, storing it in the block manager, fetching it to the driver's JVM and serving it to the driver's Python
process: five copies, about 3 s for two 40 MB results on 2 cores. A broadcast takes a similar detour. The trainers
move one flat weight buffer out and one back per worker and round, so for large models these copies are the
communication time (``bench/test_scaling_data_parallel.py`` measures both paths).

The channel keeps Spark for what it does well (scheduling, retries, small results) and moves the big arrays
itself: the driver listens on one port; a task fetches a published array from it and sends its large results
to it, raw bytes under a small header (``comm.wire``), no pickle. Every connection proves it holds the key
of one job (``comm.auth``, HMAC challenge-response): each published array and each outbox has a random key of
its own, which the driver forgets when the array is withdrawn or the job's results are collected or
discarded, so a key read from an old task's closure opens nothing, and a connection can only fetch or send
for the job whose key it proved; every frame after the handshake is tagged under that connection's own keys
(``comm.frames``), so an array changed on the way is refused, not stored. Results are kept under (job, partition, task
attempt), and a task only returns after the driver acknowledged its arrays, so the driver never reads a
half-sent array and a retried task's arrays never mix with its failed attempt's.
"""
import itertools
import socket
import threading
from collections import OrderedDict

import numpy as np

from .auth import client_handshake, new_key
from .server import DRIVER, MessageServer
from .wire import read_message, write_message


#: arrays at least this large travel over the channel; smaller ones go the ordinary Spark way
THRESHOLD = 1 << 20
_EMPTY = np.empty(0, np.uint8)


class DriverChannel(MessageServer):
    """The driver's end: publishes arrays for tasks to fetch and receives the arrays tasks send.

    Args:
        host: the address executors reach the driver at (Spark's ``spark.driver.host``).
        timeout: seconds a connection may stall before it is dropped.
    """

    def __init__(self, host, timeout=300.0):
        self._published = {}  # token -> array
        self._received = {}  # (token, partition, attempt, key) -> array
        self._finished = set()  # tokens of jobs whose results were collected or abandoned
        self._jobs = {}  # job number -> (token, key) while the array is published or the job runs
        self._connections = {}  # socket -> the token of the job whose key it proved
        self._lock = threading.Lock()
        self._numbers = itertools.count(2)  # (0 is the driver's rank in the handshake, 1 a gang's rank)
        super().__init__(host, "driver channel", "a task", timeout)

    def _new_job(self, kind):
        number, key = next(self._numbers), new_key()
        token = f"{kind}-{number}"
        with self._lock:
            self._jobs[number] = (token, key)
        return number, token, key

    # ----- driver side -----
    def publish(self, array):
        """A picklable ``Fetch`` handle whose ``.value`` is ``array`` on the driver and in every task."""
        number, token, key = self._new_job("value")
        with self._lock:
            self._published[token] = np.ascontiguousarray(array)
        return Fetch(self.address, key, token, array, number)

    def withdraw(self, handle):
        """Forget a published array (and its key)."""
        with self._lock:
            self._published.pop(handle.token, None)
            self._jobs.pop(handle.number, None)

    def outbox(self, threshold=THRESHOLD):
        """A picklable ``Outbox`` for the tasks of one job: where they send their result arrays of at least
        ``threshold`` bytes."""
        number, token, key = self._new_job("results")
        return Outbox(self.address, key, token, threshold, number)

    def collect(self, outbox, results):
        """Replace the ``Sent`` placeholders in the tasks' ``results`` (a list of results, or of ``(index,
        result)`` pairs) by the arrays they stand for, then forget the job's arrays (failed attempts' too)."""
        mine = self.discard(outbox)
        try:
            def receive(sent):
                return mine.pop((outbox.token, sent.partition, sent.attempt, sent.key))
            return [(r[0], _replace(r[1], receive)) if isinstance(r, tuple) else _replace(r, receive)
                    for r in results]
        except KeyError as e:
            raise RuntimeError(f"a Spark task reported an array the driver never received: {e}") from None

    def discard(self, outbox):
        """Forget a job: returns the arrays its tasks sent, and drops any that arrive later (a straggling attempt)."""
        with self._lock:
            self._finished.add(outbox.token)
            self._jobs.pop(outbox.number, None)
            return {k: self._received.pop(k) for k in [k for k in self._received if k[0] == outbox.token]}

    def close(self):
        """Stop listening and drop every published and received array."""
        super().close()
        with self._lock:
            self._published.clear()
            self._received.clear()
            self._jobs.clear()

    # ----- the connections' threads -----
    def key_for(self, number):
        with self._lock:
            return self._jobs.get(number, (None, None))[1]

    def authenticated(self, sock, number):
        with self._lock:
            self._connections[sock] = self._jobs.get(number, (None, None))[0]

    def finished(self, sock):
        with self._lock:
            self._connections.pop(sock, None)

    def handle(self, sock, tag, array):
        op, _, rest = tag.partition(":")
        with self._lock:
            job = self._connections.get(sock)
        if rest.split(":", 1)[0] != job:
            raise PermissionError(f"a connection that proved the key of {job} asked for {tag.split(':', 2)[:2]}")
        if op == "get":
            with self._lock:
                value = self._published.get(rest)
            if value is None:
                raise RuntimeError(f"a task asked for {rest}, which is no longer published")
            write_message(sock, "value", value)
        elif op == "put":
            token, partition, attempt, key = rest.split(":", 3)
            with self._lock:
                if token not in self._finished:
                    self._received[token, int(partition), int(attempt), key] = array
            write_message(sock, "ok", _EMPTY)
        else:
            raise RuntimeError(f"unknown request {op!r}")


# ----- task side -----
_FETCHED = OrderedDict()  # (address, token) -> array, per Python worker
_KEEP = 2


def _connect(address, key, number, timeout=300.0):
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_handshake(sock, key, number, DRIVER)
    return sock


class Fetch:
    """A published array: ``.value`` is the array itself on the driver, fetched once per Python worker elsewhere.
    ``key`` and ``number``: the array's own key and job number, which a fetch proves."""

    def __init__(self, address, key, token, array=None, number=1):
        self.address, self.key, self.token, self._array, self.number = address, key, token, array, number

    def __getstate__(self):
        return {"address": self.address, "key": self.key, "token": self.token, "number": self.number}

    def __setstate__(self, state):
        self.__dict__.update(state, _array=None)

    @property
    def value(self):
        if self._array is None:
            found = _FETCHED.get((self.address, self.token))
            if found is None:
                try:
                    with _connect(self.address, self.key, self.number) as sock:
                        write_message(sock, f"get:{self.token}", _EMPTY)
                        _, found = read_message(sock, "the driver")
                except (EOFError, ConnectionError) as e:
                    raise ConnectionError(f"the driver at {self.address[0]}:{self.address[1]} did not send "
                                          f"{self.token} (no longer published, or the driver is gone): {e}") from e
                while len(_FETCHED) >= _KEEP:
                    _FETCHED.popitem(last=False)
                _FETCHED[self.address, self.token] = found
            self._array = found
        return self._array


class Sent:
    """Stands in a task's result for an array it sent to the driver."""

    __slots__ = ("partition", "attempt", "key")

    def __init__(self, partition, attempt, key):
        self.partition, self.attempt, self.key = partition, attempt, key

    def __getstate__(self):
        return (self.partition, self.attempt, self.key)

    def __setstate__(self, state):
        self.partition, self.attempt, self.key = state


class Outbox:
    """Where the tasks of one job send the large arrays of their results (proving the job's ``key`` and
    ``number``)."""

    def __init__(self, address, key, token, threshold=THRESHOLD, number=1):
        self.address, self.key, self.token, self.threshold, self.number = address, key, token, threshold, number

    def send(self, partition, attempt, result):
        """``result`` with every large array (at the top level or in a top-level dict) sent and replaced by a
        ``Sent``; returns after the driver has acknowledged them all."""
        large = [(k, v) for k, v in _items(result) if isinstance(v, np.ndarray) and v.nbytes >= self.threshold]
        if not large:
            return result
        with _connect(self.address, self.key, self.number) as sock:
            for k, v in large:
                write_message(sock, f"put:{self.token}:{partition}:{attempt}:{k}", v)
                read_message(sock, "the driver")
        names = {k for k, _ in large}
        return _replace(result, lambda v: v, sent=lambda k: Sent(partition, attempt, k), names=names)


def _items(result):
    if isinstance(result, dict):
        return [(str(k), v) for k, v in result.items()]
    return [("", result)]


def _replace(result, receive, sent=None, names=()):
    """Swap arrays for ``Sent`` placeholders (``sent``, for the keys in ``names``) or placeholders for arrays."""
    def swap(key, value):
        if sent is not None:
            return sent(key) if key in names else value
        return receive(value) if isinstance(value, Sent) else value
    if isinstance(result, dict):
        return {k: swap(str(k), v) for k, v in result.items()}
    return swap("", result)
