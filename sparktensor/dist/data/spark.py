"""Spark data that stays on the executors: ``from_rdd``, ``from_dataframe`` and ``from_parquet``.

Each partition is converted on its executor into chunks of ``(x, y)`` NumPy arrays (Arrow for DataFrames),
and the chunks are persisted as an RDD (``DISK_ONLY``: rounds read the block files below, so a copy in the
JVM's heap would only crowd it): Spark's own storage, so a lost executor's partitions are rebuilt from the
source by lineage (with the same bits when the source reads its rows in a
fixed order; a shuffle in the source is warned about). One job then streams each persisted partition once
through a Python task that checks it and writes it to files in its executor's local directory
(``block_files``), and reports a ``BlockStats`` record: the driver holds counts, shapes and dtypes only.

Rounds read the blocks from those files, memory-mapped: every Python worker of the executor shares the
page cache's one copy (Spark gives a partition's tasks to any of its Python workers), a block larger than
the worker's memory is paged in as its batches are read, and nothing is sent from the JVM. A round's tasks
run over an RDD of empty partitions that prefer the executors caching the blocks (``_rowless``). A task whose
executor has no file for its partition (the executor was replaced) reports a miss, and the driver reruns that
partition over the persisted RDD, which streams the chunks (rebuilt by lineage where they were lost), writes
the file and trains: the same result.
"""
import functools
import logging
import uuid

import numpy as np

from .block_files import delete_files, store_partition
from .blocks import _split
from .convert import _arrow_partition, _rdd_partition, conversion_columns, input_spec_of, table_source
from .resident import ResidentData, cut_once

log = logging.getLogger("sparktensor.dist")

# pieces a repartition shuffles: PySpark's partitionBy pickles about 20 records per batch for the JVM to hold
_PIECE_BYTES = 1 << 20
_SCHEMA = ("partition int, chunk int, rows long, x binary, y binary, x_shape string, y_shape string, "
           "x_dtype string, y_dtype string, error string")


class SparkResidentData(ResidentData):
    """Samples kept on Spark's executors: a persisted RDD of chunks and one local file per partition.

    Built by ``from_rdd``, ``from_dataframe`` and ``from_parquet``; trainers place it without moving it.
    """

    kind = "spark"

    def __init__(self, chunks, key, **merged):
        super().__init__(**merged)
        self.chunks, self.key = chunks, key
        self._partitioned = {}  # partitions -> SparkResidentData, made on the cluster once
        self._tasks = None

    @property
    def context(self):
        """The SparkContext the blocks live in."""
        return self.chunks.context

    def tasks(self, refresh=False):
        """An RDD of one empty partition per block, each preferring the executor that caches the block; made
        once, and again with ``refresh`` (after blocks were rebuilt elsewhere)."""
        if self._tasks is None or refresh:
            self._tasks = _rowless(self.chunks)
        return self._tasks

    def repartition(self, partitions):
        """The same samples in ``partitions`` contiguous, nearly equal partitions, cut and moved on the cluster."""
        sizes = [len(x) for x, _ in _split(np.empty(len(self)), np.empty(len(self)), partitions)]
        if sizes == self.counts:
            return self
        if partitions not in self._partitioned:
            offsets = np.concatenate([[0], np.cumsum(self.counts)]).tolist()
            bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
            cut = functools.partial(_cut_chunks, offsets, bounds)
            moved = (self.chunks.mapPartitionsWithIndex(cut)
                     .repartitionAndSortWithinPartitions(len(sizes), _new_partition).values())
            self._partitioned[partitions] = _persist(moved, self.num_classes, self.source).with_inputs(
                self.input_spec)
        return self._partitioned[partitions]

    def map_chunks(self, fn):
        """A new data set with ``fn(x, y) -> (x, y)`` applied to every chunk on the executors (a reshape, a dtype,
        a target layout); ``fn`` must keep the number of samples. This one stays until ``release``."""
        return _persist(self.chunks.map(functools.partial(_apply, fn)), self.num_classes, self.source)

    def to_blocks(self):
        """Every sample gathered on the driver as ``Blocks`` (for data that fits there)."""
        pieces = {}
        for index, x, y in self.chunks.mapPartitionsWithIndex(_gather_partition).collect():
            pieces.setdefault(index, []).append((x, y))
        return self._gathered(pieces)

    def release(self):
        """Delete the local files and unpersist the chunks (and those of every repartitioned copy)."""
        for child in self._partitioned.values():
            child.release()
        self._partitioned.clear()
        _forget(self.chunks, self.key, self.tasks())


def _rowless(chunks):
    """One empty partition per partition of ``chunks``, preferring the executors where Spark caches it now.

    The tasks read their blocks from the executors' files, so they need the placement of ``chunks`` and none
    of its rows: a view computed from ``chunks`` itself would make Spark load each cached block (from disk,
    where it spilled) into the JVM every round. The locations come from the scheduler when the job is made;
    a block cached nowhere (its executor was lost) gets none, and its task reports a miss.
    """
    import pickle

    from pyspark.rdd import RDD
    from pyspark.serializers import BatchedSerializer, CPickleSerializer
    sc = chunks.context
    jvm, scheduler, source = sc._jvm, sc._jsc.sc().dagScheduler(), chunks._jrdd.rdd()
    empty = bytearray(pickle.dumps([]))
    scheduler.clearCacheLocs()  # it remembers the locations of the last job's start, before the blocks were cached
    elements = []
    for index in range(chunks.getNumPartitions()):
        found = scheduler.getPreferredLocs(source, index)
        places = [found.apply(j).toString() for j in range(found.size())]
        elements.append(jvm.scala.Tuple2(empty, jvm.PythonUtils.toSeq(places)))
    tag = jvm.scala.reflect.ClassTag.AnyRef()
    rdd = sc._jsc.sc().makeRDD(jvm.PythonUtils.toSeq(elements), tag)
    return RDD(jvm.org.apache.spark.api.java.JavaRDD(rdd, tag), sc, BatchedSerializer(CPickleSerializer(), 1))


def _forget(chunks, key, tasks):
    """Delete the blocks' local files where the tasks run, and unpersist the chunks."""
    try:
        tasks.mapPartitions(functools.partial(delete_files, key)).collect()
    except Exception as e:  # an executor that is gone has no files left to delete
        log.debug("could not delete every local block file of %s: %s", key, e)
    chunks.unpersist()


def _apply(fn, chunk):
    if chunk is None or isinstance(chunk, str):
        return chunk
    x, y = fn(*chunk)
    if len(x) != len(chunk[0]) or len(y) != len(chunk[1]):
        raise ValueError(f"map_chunks: {fn} changed the number of samples of a chunk")
    return x, y


def _new_partition(key):
    return key[0]


# ----- building -----
def _persist(chunks, num_classes, source):
    """Persist an RDD of chunks, write every partition's local file and check it; a ``SparkResidentData``."""
    from pyspark import StorageLevel
    chunks = chunks.persist(StorageLevel.DISK_ONLY)
    key = uuid.uuid4().hex
    try:
        stats = chunks.mapPartitionsWithIndex(functools.partial(store_partition, key, source)).collect()
        merged = ResidentData.merge(stats, num_classes, source)
    except BaseException:  # the partitions that were written go too: nothing is left behind
        _forget(chunks, key, _rowless(chunks))
        raise
    data = SparkResidentData(chunks, key, **merged)
    log.info("%r", data)
    return data


def from_rdd(rdd, features=None, label=None, num_classes=None, dtype=None, partitions=None):
    """An RDD of ``(x, y)`` pairs or of ``Row`` objects as data kept on the executors, one block per partition.

    Args:
        rdd: elements ``(x, y)`` (``x`` an array, list, number or ML Vector; ``y`` a number or array), or Rows
            from which ``features`` and ``label`` are taken (default: the fields ``features`` and ``label``
            when present, otherwise the first two).
        features, label: the Row fields to use.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
        dtype: the features' dtype (default: float32 unless the data are float64).
        partitions: re-cut the samples into this many contiguous partitions on the cluster.
    """
    _warn_if_shuffled("RDD", "ShuffledRDD" in rdd.toDebugString().decode(errors="replace"))
    chunks = rdd.mapPartitionsWithIndex(functools.partial(_rdd_chunks, features, label, dtype))
    return cut_once(_persist(chunks, num_classes, "RDD"), partitions)


def _rdd_chunks(features, label, dtype, index, records):
    """Executor side: an RDD partition as one chunk, or its error message."""
    for _, x, y, error in _rdd_partition(features, label, dtype, index, records):
        if error:
            yield error
        elif x is not None:
            yield x, y


def from_dataframe(df, features, label, num_classes=None, dtype="float32", decode=None, feature_shape=None,
                   partitions=None):
    """DataFrame columns as data kept on the executors, converted through Arrow, one block per partition.

    Args:
        df: a Spark DataFrame.
        features: a column name or a list of them: numeric columns, ``array<number>`` columns (nested arrays
            become extra dimensions), Spark ML ``Vector`` columns, or binary columns that ``decode`` turns into
            arrays. Several columns in a list are flattened and concatenated per sample; in a tuple, each is
            one input of a model called as ``model(x1, x2, ...)``.
        label: the label column (numeric, or an array of numbers for vector targets); integer columns give
            int64 labels (class indices), floating ones ``dtype`` targets.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
        dtype: the features' dtype.
        decode: for binary columns, a function from the bytes of one value to an array (e.g. a PNG decoder);
            a dict maps column names to such functions.
        feature_shape: reshape each sample's features to this shape (e.g. ``(1, 28, 28)``); for a tuple of
            columns, a tuple of shapes (None keeps a column's own).
        partitions: re-cut the samples into this many contiguous partitions on the cluster.
    """
    if _is_connect(df):
        from . import connect as connect_data
        return connect_data.from_dataframe(df, features, label, num_classes, dtype, decode, feature_shape, partitions)
    chunks, spec = _dataframe_chunks(df, features, label, dtype, decode, feature_shape, source_file=None)
    return cut_once(_persist(chunks, num_classes, "DataFrame").with_inputs(spec), partitions)


def from_parquet(path_or_table, features, label, num_classes=None, dtype="float32", feature_shape=None,
                 partitions=None, spark=None):
    """A Parquet file or folder, or a catalog table, as data kept on the executors (see ``from_dataframe``).

    Errors found on an executor name the partition, the column and the Parquet file.
    """
    from pyspark.sql import SparkSession
    spark = spark or SparkSession.getActiveSession()
    if spark is None:
        from ..engines.session import embedded_session
        spark = embedded_session()
    if _is_connect(spark):
        from . import connect as connect_data
        return connect_data.from_parquet(spark, path_or_table, features, label, num_classes, dtype, feature_shape,
                                         partitions)
    df, source, source_file = table_source(spark, path_or_table)
    chunks, spec = _dataframe_chunks(df, features, label, dtype, None, feature_shape, source_file)
    return cut_once(_persist(chunks, num_classes, source).with_inputs(spec), partitions)


def _is_connect(spark):
    """Whether ``spark`` (a session or DataFrame) is a Spark Connect client's (see ``connect_data``)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _warn_if_shuffled(source, shuffled):
    """A shuffle in the source's lineage delivers a recomputed partition's rows in the order its pieces arrive,
    so a lost executor would give the same samples in another order: say so, and what keeps the bits."""
    if shuffled:
        log.warning("the %s's partitions come out of a shuffle (a repartition, join or aggregation): if an "
                    "executor is lost, Spark rebuilds its partitions with the same rows in a possibly different "
                    "order, and training no longer gives the same bits. Read the source without the shuffle and "
                    "pass partitions=K instead of repartitioning it (from_* cut in a fixed order), or checkpoint "
                    "it first", source)


def _dataframe_chunks(df, features, label, dtype, decode, feature_shape, source_file):
    """An RDD of the DataFrame's chunks, converted on the executors through ``mapInArrow``, and the inputs'
    ``input_spec`` (None unless ``features`` is a tuple: one input per column)."""
    import pyarrow  # noqa: F401  (fail here, on the driver, when Arrow is missing)
    features, columns, decoders = conversion_columns(df, features, label, dtype, decode, source_file)
    feature_shape = None if feature_shape is None else tuple(feature_shape)
    convert = functools.partial(_arrow_partition, features, label, np.dtype(dtype).str, decoders, feature_shape,
                                source_file)
    selected = df.select(*columns)
    _warn_if_shuffled("DataFrame", "Exchange" in selected._jdf.queryExecution().executedPlan().toString())
    spec = input_spec_of(selected, features, dtype, decoders, feature_shape) if isinstance(features, tuple) else None
    table = selected.mapInArrow(convert, _SCHEMA)
    return table.rdd.map(_chunk_from_row), spec


def _chunk_from_row(row):
    """Executor side: one row of ``_arrow_partition``'s output as a chunk, an error message, or None (empty)."""
    if row.error:
        return row.error
    if not row.rows:
        return None
    x_shape = tuple(int(s) for s in row.x_shape.split(",") if s)
    y_shape = tuple(int(s) for s in row.y_shape.split(",") if s)
    return (np.frombuffer(row.x, np.dtype(row.x_dtype)).reshape((row.rows,) + x_shape),
            np.frombuffer(row.y, np.dtype(row.y_dtype)).reshape((row.rows,) + y_shape))


def _gather_partition(index, chunks):
    for chunk in chunks:
        if chunk is not None and not isinstance(chunk, str):
            yield index, chunk[0], chunk[1]


# ----- executor side: cutting into new partitions -----
def _cut_chunks(offsets, bounds, index, chunks):
    """Cut a partition's chunks at the new partitions' bounds: ``((new partition, first row), (x, y))`` pieces,
    which the shuffle sorts by their first row (spilling to disk where a partition is large)."""
    start = offsets[index]
    for chunk in chunks:
        if chunk is None or isinstance(chunk, str):
            continue
        x, y = chunk
        stop = start + len(x)
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        step = max(1, _PIECE_BYTES // max(1, x[:1].nbytes + y[:1].nbytes))
        while start < stop:
            end = min(stop, bounds[first + 1], start + step)
            a, b = start - (stop - len(x)), end - (stop - len(x))
            yield (first, start), (np.ascontiguousarray(x[a:b]), np.ascontiguousarray(y[a:b]))
            start = end
            first += end == bounds[first + 1]
