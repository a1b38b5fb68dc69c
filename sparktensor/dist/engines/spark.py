"""``SparkEngine``: the engine interface on Apache Spark (4.x), for a given, active or embedded SparkSession.

* Data: one broadcast per partition. PySpark keeps a broadcast's value loaded in its reused Python workers,
  so each worker reads each block at most once; a retried task or a new executor reads the same bytes.
  Every job references all placed data, because PySpark drops from a worker the broadcasts the running job
  does not reference.
* Jobs: a K-element RDD, one task per partition, so the per-round input is a few bytes. An array under
  ``INLINE_BYTES`` (a small model's weight buffer) travels inside the job: each round then makes and
  destroys no broadcast of its own, which costs the driver two JVM calls and the executors a fetch each.
* Sums: a tree like ``treeAggregate``'s (same levels), but each group is summed in partition order, where
  ``treeAggregate``'s ``reduceByKey`` sums in arrival order and so changes float results from run to run.
* Large arrays (``direct=True``, the default): the round's weight buffer and the tasks' large result arrays
  (1 MiB and up) travel over the driver channel (``comm/driver_channel.py``): direct authenticated TCP between the
  driver and the tasks, raw bytes, no pickle, no detour through the JVMs. The tasks' results are then summed on
  the driver in the same fixed tree. With ``direct=False`` they go as Spark broadcasts and task results, summed
  in the tree on the executors (for clusters whose executors cannot open connections to the driver).
"""
import functools
import logging
import os
import uuid

import numpy as np

from ..comm import driver_channel
from ..data import spark as spark_data
from ..data.resident import ResidentData
from .base import Engine, Value, fold, tree_fold, tree_shape
from .session import embedded_session
from .spark_tasks import _run_resident_task, _run_task
from .user_code import _by_value, _user_modules

log = logging.getLogger("sparktensor.dist")

#: arrays smaller than this ``broadcast`` puts in the job itself (Spark ships a job's closure once per executor)
INLINE_BYTES = 1 << 20


class SparkEngine(Engine):
    """Train on Spark: ``spark`` (a SparkSession), else the active session, else an embedded local one.

    A Spark Connect session (``SparkSession.builder.remote(...)``) gives a ``engines.connect.ConnectEngine``,
    which trains with DataFrame APIs only.

    Args:
        spark: the SparkSession to use.
        master: the master URL of an embedded session (default: ``spark-submit``'s ``--master`` when the script
            runs under it, else ``local[*,4]``: all cores, and a failed task is
            retried up to 4 times, as on a cluster).
        conf: extra Spark settings for an embedded session.
        depth: the depth of the aggregation tree.
        direct: move large weight buffers and results over direct connections to the driver (see the module
            docstring); ``$SPARKTENSOR_DRIVER_HOST`` sets the address executors reach the driver at.
    """

    def __new__(cls, spark=None, master=None, conf=None, depth=2, direct=True):
        from pyspark.sql import SparkSession
        session = spark if spark is not None else SparkSession.getActiveSession()
        if session is not None and type(session).__module__.startswith("pyspark.sql.connect"):
            from .connect import ConnectEngine  # no SparkContext: DataFrame APIs only
            return ConnectEngine(session, depth=depth, direct=direct)
        return super().__new__(cls)

    def __init__(self, spark=None, master=None, conf=None, depth=2, direct=True):
        from pyspark.sql import SparkSession
        if spark is None:
            spark = SparkSession.getActiveSession()
        if spark is None:
            spark = embedded_session(master, conf)
        self.spark = spark
        self.sc = spark.sparkContext
        self.depth = depth
        self.direct = bool(direct)
        self.direct_threshold = driver_channel.THRESHOLD
        self.inline_threshold = INLINE_BYTES
        self._channel = None
        self._placed = {}  # placement id -> block broadcasts; every task references them all

    @property
    def workers(self):
        """Spark's default parallelism: the cores of a local master, the executors' cores on a cluster."""
        return self.sc.defaultParallelism

    def place(self, blocks):
        if isinstance(blocks, ResidentData):
            if not isinstance(blocks, spark_data.SparkResidentData) or blocks.context is not self.sc:
                raise ValueError(f"{blocks!r} lives on another cluster; SparkEngine trains on data of its own "
                                 f"SparkContext (dist.from_dataframe, from_parquet, from_rdd) or from_numpy")
            return _Resident(blocks)
        handles = [self.sc.broadcast(block) for block in blocks.blocks]
        key = uuid.uuid4().hex
        self._placed[key] = handles
        tasks = self.sc.parallelize(range(len(handles)), len(handles))
        return _Placed(key, handles, tasks)

    def release(self, placed):
        if isinstance(placed, _Resident):  # the data set is the caller's: it stays on the executors
            return
        if self._placed.pop(placed.key, None) is not None:
            for handle in placed.handles:
                handle.destroy()

    def broadcast(self, value):
        if isinstance(value, np.ndarray) and value.nbytes < self.inline_threshold:
            return Value(value)  # travels inside the job's tasks: no broadcast to make and destroy each round
        if self.direct and isinstance(value, np.ndarray) and value.nbytes >= self.direct_threshold:
            return self._driver_channel().publish(value)
        return self.sc.broadcast(value)

    def unbroadcast(self, handle):
        if isinstance(handle, driver_channel.Fetch):
            self._channel.withdraw(handle)
        elif not isinstance(handle, Value):
            handle.destroy()

    def _driver_channel(self):
        if self._channel is None:
            host = os.environ.get("SPARKTENSOR_DRIVER_HOST") or (
                "127.0.0.1" if self.sc.master.startswith("local") else self.sc.getConf().get("spark.driver.host"))
            self._channel = driver_channel.DriverChannel(host)
            log.info("driver channel listening on %s:%d", *self._channel.address)
        return self._channel

    def ship(self, obj):
        from pyspark import cloudpickle
        with _by_value(_user_modules(obj), cloudpickle):
            return self.sc.broadcast(cloudpickle.dumps(obj))

    def map_reduce(self, placed, fn, args, combine):
        from pyspark import cloudpickle
        everything = tuple(self._placed.values())  # keeps all placed blocks loaded in the Python workers
        outbox = self._driver_channel().outbox(self.direct_threshold) if self.direct else None
        if isinstance(placed, _Resident):
            with _by_value(_user_modules((fn, combine)), cloudpickle):
                return self._map_reduce_resident(placed.data, fn, args, combine, everything, outbox)
        task = functools.partial(_run_task, fn, placed.handles, everything, args, outbox)
        with _by_value(_user_modules((fn, combine)), cloudpickle):  # stages are pickled as they are built
            results = placed.tasks.mapPartitionsWithIndex(task)
            if outbox is not None:  # the large arrays are on the driver already: sum them here, same tree
                try:
                    return tree_fold(self._channel.collect(outbox, results.collect()), combine, self.depth)
                finally:
                    self._channel.discard(outbox)  # a failed job's arrays, and any that arrive late
            for scale in tree_shape(len(placed.handles), self.depth):
                groups = -(-results.getNumPartitions() // scale)
                results = (results.map(functools.partial(_group_key, scale)).groupByKey(groups)
                           .map(functools.partial(_fold_group, combine)))
            return fold(results.collect(), combine)

    def _map_reduce_resident(self, data, fn, args, combine, everything, outbox):
        """One task per block where it is cached; blocks whose executor lost them rerun over the chunks."""
        task = functools.partial(_run_resident_task, fn, data.key, data.source, everything, args, outbox, False)
        try:
            results = data.tasks().mapPartitionsWithIndex(task).collect()
            missing = [index for index, result in results if isinstance(result, str)]
            if missing:
                log.warning("partitions %s are not on their executors' disks (an executor was replaced): "
                            "rebuilding them from Spark's storage or the source", missing)
                rebuild = functools.partial(_run_resident_task, fn, data.key, data.source, everything, args,
                                            outbox, True)
                results = [r for r in results if not isinstance(r[1], str)] + self.sc.runJob(
                    data.chunks.mapPartitionsWithIndex(rebuild), list, missing)
                data.tasks(refresh=True)  # the rebuilt blocks' new places, for the next rounds
            if outbox is not None:
                results = self._channel.collect(outbox, results)
            return tree_fold(results, combine, self.depth)
        finally:
            if outbox is not None:
                self._channel.discard(outbox)

    def describe(self, text):
        self.sc.setJobDescription(text)

    def close(self):
        """Stop the driver channel (the SparkSession is the caller's and stays up)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __exit__(self, *exc):
        self.close()
        return False

    def run_gang(self, fn, world_size, *args, timeout=60.0, name=None, attempts=1, host=None):
        """One barrier stage of ``world_size`` tasks, rank = partition index (see ``spark_gang``).

        Args:
            name: the gang's name in Spark's job description and in errors (``fn``'s name by default).
            attempts: how many times to launch the gang when a rank's process dies (a rank's own
                exception is raised at once).
            host: the address ranks listen on and advertise (default: loopback on a local master,
                else the executor's host as Spark knows it; ``$SPARKTENSOR_GANG_HOST`` overrides both).
        """
        from pyspark import cloudpickle
        from . import spark_gang as gang_spark
        if host is None and self.sc.master.startswith("local"):
            host = "127.0.0.1"
        by_value = functools.partial(_by_value, _user_modules((fn,) + tuple(args)), cloudpickle)
        return gang_spark.run_gang(self.sc, fn, world_size, args, timeout=timeout, name=name, attempts=attempts,
                                   host=host, by_value=by_value)

    def __repr__(self):
        return f"SparkEngine(master={self.sc.master!r}, workers={self.workers})"


class _Placed:
    __slots__ = ("key", "handles", "tasks")

    def __init__(self, key, handles, tasks):
        self.key, self.handles, self.tasks = key, handles, tasks


class _Resident:
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def _group_key(scale, item):
    return item[0] // scale, item


def _fold_group(combine, item):
    key, values = item
    return key, fold(list(values), combine)


