"""``ConnectEngine``: the engine interface over Spark Connect (Spark 4's thin client), DataFrame APIs only.

``SparkEngine(spark)`` returns one when ``spark`` is a Connect session (``SparkSession.builder.remote(...)``):
there is no SparkContext, no RDD and no ``sc.broadcast``, so

* Data: ``place`` uploads ``Blocks`` once as a DataFrame of chunk rows, persisted, and every block is written
  to a file on its executor (``connect_data``); data from ``from_dataframe``/``from_parquet`` on a Connect
  session is already there. A round is one ``mapInArrow`` over a view of the cached chunks that carries no
  rows: one task per block, where it is cached.
* Values: with ``direct=True`` (the default) the round's weight buffer, the shipped model and the tasks'
  large result arrays travel over the driver channel (``comm/driver_channel.py``: direct authenticated TCP
  between the client and the tasks). With ``direct=False`` (executors that cannot reach the client) they
  travel inside the job: the weights and the model in the pickled ``mapInArrow`` function, the results as
  pickled bytes in a binary column. Small results always take the column.
* Sums: the tasks' results are folded on the client in the same fixed tree as ``SparkEngine``'s, so the
  weights are bit-identical to ``LocalEngine``'s.
* Gangs: one ``mapInArrow(..., barrier=True)`` stage (``connect_gang``).
"""
import functools
import logging
import os
import pickle
import re
import socket

import numpy as np

from ..data import connect as connect_data
from ..comm import driver_channel
from ..data.blocks import Blocks
from .base import Engine, Value, tree_fold
from ..data.resident import ResidentData
from .spark_tasks import _task_threads
from .user_code import _by_value, _user_modules

log = logging.getLogger("sparktensor.dist")

_RESULTS = "partition int, result binary"


class ConnectEngine(Engine):
    """Train through a Spark Connect session (see the module doc); made by ``SparkEngine(connect_session)``.

    Args:
        spark: a ``pyspark.sql.connect.session.SparkSession``.
        depth: the depth of the aggregation tree.
        direct: move the weights, the model and large results over direct connections to the client, else
            inside the jobs. ``$SPARKTENSOR_DRIVER_HOST`` sets the address executors reach the client at.
    """

    def __init__(self, spark, depth=2, direct=True):
        self.spark = spark
        self.depth = depth
        self.direct = bool(direct)
        self.direct_threshold = driver_channel.THRESHOLD
        self._channel = None
        self._workers = None
        self._description = None

    @property
    def master(self):
        """The server's master URL."""
        return self.spark.conf.get("spark.master", "?")

    @property
    def workers(self):
        """The server's default parallelism (one small job the first time when its settings do not say)."""
        if self._workers is None:
            given = self.spark.conf.get("spark.default.parallelism", None)
            found = re.fullmatch(r"local\[(\d+)(,\d+)?\]", self.master)
            if given:
                self._workers = int(given)
            elif found:
                self._workers = int(found.group(1))
            else:
                from pyspark.sql import functions as F
                last = self.spark.range(0, 1 << 16).select(F.max(F.spark_partition_id())).first()[0]
                self._workers = int(last) + 1
        return self._workers

    def place(self, blocks):
        if isinstance(blocks, ResidentData):
            if not isinstance(blocks, connect_data.ConnectResidentData):
                raise ValueError(f"{blocks!r} lives on another cluster; a Spark Connect engine trains on data read "
                                 f"through its own session (dist.from_dataframe, from_parquet) or from_numpy")
            return _Placed(blocks, owned=False)
        if not isinstance(blocks, Blocks):
            raise TypeError(f"place takes dist.Blocks or data from dist.from_dataframe, got {type(blocks).__name__}")
        return _Placed(connect_data.from_blocks(self.spark, blocks), owned=True)

    def release(self, placed):
        if placed.owned:  # the caller's resident data stays on the executors
            placed.data.release()

    def broadcast(self, value):
        if self.direct and _nbytes(value) >= self.direct_threshold:
            if isinstance(value, tuple):
                return _Tuple(tuple(self._driver_channel().publish(v) for v in value))
            return self._driver_channel().publish(value)
        return Value(value)  # travels in the pickled function of the next jobs

    def unbroadcast(self, handle):
        for fetch in _fetches(handle):
            if self._channel is not None:
                self._channel.withdraw(fetch)

    def ship(self, obj):
        from pyspark import cloudpickle
        with _by_value(_user_modules(obj), cloudpickle):
            payload = cloudpickle.dumps(obj)
        if self.direct and len(payload) >= self.direct_threshold:
            return _Bytes(self._driver_channel().publish(np.frombuffer(payload, np.uint8)))
        return Value(payload)

    def _driver_channel(self):
        if self._channel is None:
            self._channel = driver_channel.DriverChannel(client_host(self.spark))
            log.info("driver channel listening on %s:%d", *self._channel.address)
        return self._channel

    def map_reduce(self, placed, fn, args, combine):
        from pyspark import cloudpickle
        data = placed.data
        outbox = self._driver_channel().outbox(self.direct_threshold) if self.direct else None
        try:
            with _by_value(_user_modules((fn, combine)), cloudpickle):  # the plan is pickled as it is sent
                task = functools.partial(_round_task, fn, data.key, args, outbox, False)
                results = _results(data.tasks().mapInArrow(task, _RESULTS))
                missing = [index for index, result in results if isinstance(result, str)]
                if missing:
                    log.warning("partitions %s are not on their executors' disks (an executor was replaced): "
                                "running the round again over Spark's cached rows", missing)
                    task = functools.partial(_round_task, fn, data.key, args, outbox, True)
                    results = _results(data.frame.mapInArrow(task, _RESULTS))
            if outbox is not None:
                results = self._channel.collect(outbox, results)
            return tree_fold(results, combine, self.depth)
        finally:
            if outbox is not None:
                self._channel.discard(outbox)

    def describe(self, text):
        self._description = text  # Connect has no job descriptions; kept for run_gang's error messages

    def run_gang(self, fn, world_size, *args, timeout=60.0, name=None, attempts=1, host=None):
        """One barrier ``mapInArrow`` stage of ``world_size`` tasks, rank = partition index (``connect_gang``).

        Args are those of ``SparkEngine.run_gang``.
        """
        from pyspark import cloudpickle
        from . import connect_gang
        if host is None and self.master.startswith("local"):
            host = "127.0.0.1"
        by_value = functools.partial(_by_value, _user_modules((fn,) + tuple(args)), cloudpickle)
        return connect_gang.run_gang(self.spark, fn, world_size, args, slots=self.workers, master=self.master,
                                     timeout=timeout, name=name, attempts=attempts, host=host, by_value=by_value)

    def close(self):
        """Stop the driver channel (the session is the caller's and stays up)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"SparkEngine(Spark Connect, master={self.master!r}, workers={self.workers})"


def client_host(spark):
    """The address executors reach this client at: ``$SPARKTENSOR_DRIVER_HOST``, loopback for a local server,
    else the address this machine uses towards the server."""
    host = os.environ.get("SPARKTENSOR_DRIVER_HOST")
    if host:
        return host
    url = getattr(spark.client, "_builder", None)
    server = getattr(url, "host", None) or "localhost"
    if server in ("localhost", "127.0.0.1", "::1"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
        probe.connect((server, 15002))
        return probe.getsockname()[0]


def connect_session(url):
    """A Spark Connect session for ``url``: ``sc://host:port``, or a master such as ``local[2]`` for a local
    server started here (its executors run on this interpreter, ``$PYSPARK_PYTHON`` unless set)."""
    import sys
    from pyspark.sql import SparkSession
    if not url.startswith("sc://"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return SparkSession.builder.remote(url).getOrCreate()


class _Placed:
    __slots__ = ("data", "owned")

    def __init__(self, data, owned):
        self.data, self.owned = data, owned


class _Tuple:
    """Published arrays whose ``.value`` is their tuple (a block ``(x, y)``)."""

    def __init__(self, parts):
        self.parts = parts

    @property
    def value(self):
        return tuple(part.value for part in self.parts)


class _Bytes:
    """A published byte string (a shipped model): ``.value`` is the bytes."""

    def __init__(self, fetch):
        self.fetch = fetch

    @property
    def value(self):
        return self.fetch.value.tobytes()


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple) and value and all(isinstance(v, np.ndarray) for v in value):
        return sum(v.nbytes for v in value)
    return 0


def _fetches(handle):
    if isinstance(handle, driver_channel.Fetch):
        return [handle]
    if isinstance(handle, _Tuple):
        return list(handle.parts)
    if isinstance(handle, _Bytes):
        return [handle.fetch]
    return []


def _results(frame):
    """``(block, result)`` pairs from a round's ``partition int, result binary`` rows."""
    return [(row.partition, pickle.loads(row.result)) for row in frame.collect()]


def _round_task(fn, key, args, outbox, rebuild, batches):
    """Executor side: ``fn`` on this partition's block from its local file (with ``rebuild``, the file is
    written first from the partition's rows when it is missing); a miss is reported as ``MISS``."""
    import pyarrow as pa
    from pyspark import TaskContext
    from ..data.block_files import MISS, load_block, store_partition
    context = TaskContext.get()
    index = context.partitionId()
    block = load_block(key, index)
    if rebuild and block is None:
        for stats in store_partition(key, "a lost block", index, connect_data.partition_chunks(index, batches)):
            if stats.error:
                raise ValueError(stats.error)
        block = load_block(key, index)
    for _ in batches:  # the rest (none on the zero-row view)
        pass
    if block is None:
        result = MISS
    else:
        with _task_threads():
            result = fn(index, block, *args)
        if outbox is not None:
            result = outbox.send(index, context.taskAttemptId(), result)
    yield pa.RecordBatch.from_arrays([pa.array([index], pa.int32()), pa.array([pickle.dumps(result)], pa.binary())],
                                     ["partition", "result"])
