"""``SparkEngine``: the engine interface on Apache Spark (4.x), for a given, active or embedded SparkSession.

* Data: one broadcast per partition. PySpark keeps a broadcast's value loaded in its reused Python workers,
  so each worker reads each block at most once; a retried task or a new executor reads the same bytes.
  Every job references all placed data, because PySpark drops from a worker the broadcasts the running job
  does not reference.
* Jobs: a K-element RDD, one task per partition, so the per-round input is a few bytes.
* Sums: a tree like ``treeAggregate``'s (same levels), but each group is summed in partition order, where
  ``treeAggregate``'s ``reduceByKey`` sums in arrival order and so changes float results from run to run.
* Large arrays (``direct=True``, the default): the round's weight buffer and the tasks' large result arrays
  (1 MiB and up) travel over the driver channel (``driver_channel.py``): direct authenticated TCP between the
  driver and the tasks, raw bytes, no pickle, no detour through the JVMs. The tasks' results are then summed on
  the driver in the same fixed tree. With ``direct=False`` they go as Spark broadcasts and task results, summed
  in the tree on the executors (for clusters whose executors cannot open connections to the driver).
"""
import functools
import logging
import os
import sys
import sysconfig
import types
import uuid

import numpy as np

from . import driver_channel, spark_data
from .engine import Engine, Value, fold, tree_fold, tree_shape
from .resident import ResidentData

log = logging.getLogger("sparktensor.dist")


class SparkEngine(Engine):
    """Train on Spark: ``spark`` (a SparkSession), else the active session, else an embedded local one.

    A Spark Connect session (``SparkSession.builder.remote(...)``) gives a ``connect_engine.ConnectEngine``,
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
            from .connect_engine import ConnectEngine  # no SparkContext: DataFrame APIs only
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
        if self.direct and isinstance(value, np.ndarray) and value.nbytes >= self.direct_threshold:
            return self._driver_channel().publish(value)
        return self.sc.broadcast(value)

    def unbroadcast(self, handle):
        if isinstance(handle, driver_channel.Fetch):
            self._channel.withdraw(handle)
        else:
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
        """One barrier stage of ``world_size`` tasks, rank = partition index (see ``gang_spark``).

        Args:
            name: the gang's name in Spark's job description and in errors (``fn``'s name by default).
            attempts: how many times to launch the gang when a rank's process dies (a rank's own
                exception is raised at once).
            host: the address ranks listen on and advertise (default: loopback on a local master,
                else the executor's host as Spark knows it; ``$SPARKTENSOR_GANG_HOST`` overrides both).
        """
        from pyspark import cloudpickle
        from . import gang_spark
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


def _run_resident_task(fn, key, source, everything, args, outbox, rebuild, index, chunks):
    """Executor side: the task of block ``index`` from its local file; with ``rebuild``, the file is written
    first from the streamed ``chunks``. Without the file (and no rebuild), reports ``spark_data.MISS``."""
    if rebuild:
        for stats in spark_data._store_partition(key, source, index, chunks):
            if stats.error:
                raise ValueError(stats.error)
    else:
        for _ in chunks:  # none: read to the end so that Spark reuses this Python worker
            pass
    block = spark_data.load_block(key, index)
    if block is None:
        return [(index, spark_data.MISS)]
    return _run_task(fn, {index: Value(block)}, everything, args, outbox, index, ())


def _run_task(fn, handles, everything, args, outbox, index, iterator):
    """Executor side: the task of partition ``index`` (``everything`` is only referenced, see the module doc)."""
    with _task_threads():
        result = fn(index, handles[index].value, *args)
    if outbox is not None:
        from pyspark import TaskContext
        result = outbox.send(index, TaskContext.get().taskAttemptId(), result)
    return [(index, result)]


_blas = []


def _task_threads():
    """Limit BLAS to the task's cores (``spark.task.cpus``), so concurrent tasks do not oversubscribe the CPUs."""
    from contextlib import nullcontext
    from pyspark import TaskContext
    context = TaskContext.get()
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return nullcontext()
    if not _blas:
        _blas.append(ThreadpoolController())  # scanning the loaded libraries once per Python worker
    cpus = int(context.cpus()) if context is not None else 1
    return _blas[0].limit(limits=max(1, cpus), user_api="blas")


def _group_key(scale, item):
    return item[0] // scale, item


def _fold_group(combine, item):
    key, values = item
    return key, fold(list(values), combine)


def embedded_session(master=None, conf=None):
    """A SparkSession for this process: Arrow on, Python workers reused, quiet, workers on this interpreter.

    ``master`` None takes the one ``spark-submit`` (or ``PYSPARK_SUBMIT_ARGS``) gave, else ``local[*,4]``.
    The executors' Python is ``$PYSPARK_PYTHON`` when set (e.g. a packed virtualenv shipped with
    ``spark.archives``), else this interpreter.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession
    SparkContext._ensure_initialized()  # the JVM (spark-submit's own when there is one) holds the given settings
    given = SparkConf()  # what spark-submit, PYSPARK_SUBMIT_ARGS or spark-defaults.conf set: it wins over ours
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if master is None:  # spark-submit's master, not its default local[*] (which retries no failed task)
        master = given.get("spark.master", None) if submitted else "local[*,4]"
    # Spark starts Python workers with `python3` from PATH unless told; they need this interpreter's packages
    python = os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(max(2, os.cpu_count() or 2)),
        "spark.driver.memory": "2g",
    }
    settings = {key: value for key, value in settings.items() if not given.contains(key)}
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName("sparktensor")
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("started an embedded Spark session, master %s", master)
    return spark


def _user_modules(obj):
    """Modules of the classes and functions in ``obj`` that executors may not import: the user's own code.

    Anything installed (site-packages, the standard library, sparktensor) is pickled by reference as usual;
    the user's modules (a script's neighbours, test files) are pickled by value, so executors need not have them.
    """
    installed = _installed_roots()
    names = set()
    for thing in _things(obj):
        name = thing.__module__
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if name in (None, "__main__", "builtins") or module is None or path is None:
            continue
        path = os.path.realpath(path)
        if not any(path.startswith(root + os.sep) for root in installed):
            names.add(name)
    return sorted(names)


@functools.lru_cache(maxsize=1)
def _installed_roots():
    roots = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib", "stdlib")}
    roots.add(os.path.realpath(os.path.dirname(os.path.dirname(__file__))))  # sparktensor itself
    return tuple(roots)


def _things(obj):
    """The classes and functions a pickle of ``obj`` (a tuple of models, optimizers, losses) refers to by name."""
    for item in obj if isinstance(obj, (tuple, list)) else (obj,):
        if callable(getattr(item, "modules", None)):  # a Module: every layer's class
            yield from (type(m) for m in item.modules())
        elif isinstance(item, types.FunctionType):
            yield item
        else:
            yield type(item)


class _by_value:
    """Pickle the named modules by value while the block runs."""

    def __init__(self, names, cloudpickle):
        self.names, self.cloudpickle, self.registered = names, cloudpickle, []

    def __enter__(self):
        for name in self.names:
            try:
                self.cloudpickle.register_pickle_by_value(sys.modules[name])
                self.registered.append(name)
            except ValueError:  # already registered by the caller
                pass
        if self.registered:
            log.info("pickling the user modules %s by value for the executors", self.registered)

    def __exit__(self, *exc):
        for name in self.registered:
            self.cloudpickle.unregister_pickle_by_value(sys.modules[name])
        return False
