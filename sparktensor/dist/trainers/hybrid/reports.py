"""From a running ``HybridTrainer`` gang to the driver: each round's record as it finishes, and the trained shares.

A gang is one job: the driver waits in ``engine.run_gang`` until every rank is done. Two things should not wait
for that, or not travel the way a task's result does:

* **Rounds.** ``fit``'s callback and progress bar follow training: rank 0 sends each round's record (a line of
  JSON) as soon as the round is done.
* **Shares.** The ranks of replica 0 send their shares of the weights and optimizer state array by array, raw
  bytes under a small header (``comm.wire``), no pickle. As a task's result, a share would be pickled whole
  inside the rank's process first (half again its size in memory, on a rank whose memory is the limit) and
  then copied through Spark's JVMs.

The driver listens on one port (``GangInbox``); a rank connects once (``DriverLink``) and proves it holds the
fit's random key (``comm.auth``). The gang itself runs on a helper thread of the driver, while the calling
thread hands each record to the callback as it comes (``follow``). A rank that cannot reach the driver (a
cluster whose executors cannot open connections to it) logs a warning and goes on: its shares then come back
in its task result, and the rounds from the history the gang returns.
"""
import json
import logging
import os
import queue
import socket
import threading
import time
from collections import namedtuple

import numpy as np

from ...comm.auth import client_handshake
from ...comm.server import DRIVER, MessageServer
from ...comm.wire import write_message

log = logging.getLogger("sparktensor.dist")
_DONE = object()

#: stands in a rank's result for an array it sent to the driver: ``inbox.arrays[(attempt, rank, name)]``
Sent = namedtuple("Sent", "attempt rank name")


class GangInbox(MessageServer):
    """The driver's end: a listening socket; records go to ``records`` (a queue), arrays to ``arrays``.

    Args:
        host: the address ranks reach the driver at.
        timeout: seconds a connection may stall before it is dropped.
    """

    def __init__(self, host="127.0.0.1", timeout=300.0):
        self.records = queue.SimpleQueue()
        self.arrays = {}  # (attempt, rank, name) -> array
        self._open = set()  # connections not yet at their end
        self._accepted = 0
        self._changed = threading.Condition()
        super().__init__(host, "gang inbox", "a rank", timeout)

    def where(self):
        """What a rank needs to reach this inbox: ``(host, port, key)``, plain values for the task closure."""
        return (self.address[0], self.address[1], self.key.hex())

    def drain(self, timeout=60.0, settle=0.2):
        """Wait (at most ``timeout`` seconds) until every connection reached its end and none came in for
        ``settle`` seconds (one may still be in the listening queue): then all that was sent is here."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait_for(lambda: not self._open, left):
                    return
                accepted = self._accepted
                self._changed.wait(min(settle, max(0.0, deadline - time.monotonic())))
                if self._accepted == accepted and not self._open:
                    return

    def close(self):
        super().close()
        self.arrays.clear()

    # ----- the connections' threads -----
    def opened(self, sock):
        with self._changed:
            self._open.add(sock)
            self._accepted += 1
            self._changed.notify_all()

    def handle(self, sock, tag, payload):
        if tag == "round":
            self.records.put(json.loads(payload.tobytes().decode()))
        else:  # "array:<attempt>:<rank>:<name>"
            _, attempt, rank, name = tag.split(":", 3)
            self.arrays[int(attempt), int(rank), name] = payload

    def finished(self, sock):
        with self._changed:
            self._open.discard(sock)
            self._changed.notify_all()


class DriverLink:
    """A rank's end: one connection to the ``GangInbox`` at ``where``, opened on first use.

    On any failure it warns once and goes quiet (``reachable`` turns False): reporting never stops training.
    """

    def __init__(self, where, rank, attempt, timeout=30.0):
        self.where, self.rank, self.attempt, self.timeout = where, rank, attempt, timeout
        self.reachable = where is not None
        self._sock = None

    def send_record(self, record):
        """Send one round's record (plain values)."""
        self._send([("round", np.frombuffer(json.dumps(record).encode(), np.uint8))])

    def send_arrays(self, arrays):
        """Send ``{name: array}``; returns ``{name: Sent}`` to put in the rank's result, or None if it failed."""
        if not self._send([(f"array:{self.attempt}:{self.rank}:{name}", np.asarray(array))
                           for name, array in arrays.items()]):
            return None
        return {name: Sent(self.attempt, self.rank, name) for name in arrays}

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, messages):
        if not self.reachable:
            return False
        try:
            if self._sock is None:
                host, port, key = self.where
                self._sock = socket.create_connection((host, port), timeout=self.timeout)
                client_handshake(self._sock, bytes.fromhex(key), 1, DRIVER)
            for tag, array in messages:
                write_message(self._sock, tag, array)
            return True
        except (OSError, PermissionError, ConnectionError) as e:
            log.warning("rank %d cannot reach the driver at %s:%s (%s); training goes on, and what it had to "
                        "send comes back with its result", self.rank, self.where[0], self.where[1], e)
            self.reachable = False
            self.close()
            return False


def inbox_host(engine):
    """The address ranks reach the driver at: ``$SPARKTENSOR_DRIVER_HOST``, Spark's driver host on a cluster,
    else loopback."""
    host = os.environ.get("SPARKTENSOR_DRIVER_HOST")
    if host:
        return host
    sc = getattr(engine, "sc", None)
    if sc is not None and not sc.master.startswith("local"):
        return sc.getConf().get("spark.driver.host")
    return "127.0.0.1"


def follow(launch, inbox, deliver):
    """``launch()`` on a helper thread; each record ``inbox`` receives meanwhile goes to ``deliver`` on this
    thread. Returns ``launch``'s result or raises its exception once everything the ranks sent has arrived
    and every record has been delivered. An exception from ``deliver`` stops further deliveries and is raised
    once the gang has finished (its ranks cannot be stopped halfway)."""
    outcome = {}

    def run():
        try:
            outcome["result"] = launch()
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = e
        finally:
            inbox.drain()
            inbox.records.put(_DONE)

    thread = threading.Thread(target=run, name="sparktensor-gang", daemon=True)
    thread.start()
    failed = None
    while True:
        record = inbox.records.get()
        if record is _DONE:
            break
        if failed is None:
            try:
                deliver(record)
            except BaseException as e:  # noqa: BLE001 - raised once the gang is done
                failed = e
    thread.join()
    if failed is not None:
        raise failed
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
