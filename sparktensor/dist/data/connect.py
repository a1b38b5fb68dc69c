"""Data kept on the executors of a Spark Connect server: the DataFrame-only twin of ``data.spark``.

A Connect client has no SparkContext, no RDDs and no broadcasts, so the samples live in a persisted
DataFrame of chunk rows (``partition, chunk, rows, x, y, shapes, dtypes, error``; ``MEMORY_AND_DISK``, rebuilt
by lineage where an executor is lost). Block ``i`` is Spark partition ``i`` of that DataFrame:

* ``from_dataframe`` / ``from_parquet``: ``mapInArrow`` converts each source partition into its chunks
  (``convert._arrow_partition``, as on classic Spark), so no rows move.
* ``Blocks`` (``from_numpy``) and ``repartition``: the chunk rows get a ``slot`` column whose Murmur3 hash
  (Spark's ``HashPartitioning``) falls in partition ``i``, and ``repartition(K, "slot")`` puts block ``i``
  in partition ``i`` (``sortWithinPartitions`` keeps the rows in order).

Then, as on classic Spark, one pass writes every block to a file in its executor's local directory
(``block_files.store_partition``) and reports ``BlockStats``; rounds memory-map the files
(``block_files.load_block``) in a ``mapInArrow`` over a view that carries no rows (a filter ``partition < 0``,
which the cached batches' statistics answer without reading them), so each task runs where its partition
is cached. A task that finds no file (its executor was replaced) reports a miss, and the round is run
again over the persisted rows, which writes the files first: same bits.
"""
import functools
import logging
import pickle
import uuid

import numpy as np

from .blocks import _split
from .convert import CHUNK_BYTES, _arrow_partition, conversion_columns, input_spec_of, table_source
from .resident import ResidentData, cut_once
from .block_files import delete_files, store_partition

log = logging.getLogger("sparktensor.dist")

_CHUNKS = ("partition int, chunk long, rows long, x binary, y binary, x_shape string, y_shape string, "
           "x_dtype string, y_dtype string, error string")
_COLUMNS = ["partition", "chunk", "rows", "x", "y", "x_shape", "y_shape", "x_dtype", "y_dtype", "error"]
_STATS = "partition int, stats binary"


class ConnectResidentData(ResidentData):
    """Samples kept on a Spark Connect server's executors: a persisted DataFrame of chunk rows, block ``i`` in
    its partition ``i``, and one local file per block (see the module doc)."""

    kind = "spark-connect"

    def __init__(self, frame, key, **merged):
        super().__init__(**merged)
        self.frame, self.key = frame, key
        self._partitioned = {}

    @property
    def session(self):
        """The Connect SparkSession the blocks live in."""
        return self.frame.sparkSession

    def tasks(self):
        """A view of the chunks with their partitions but no rows: one task per block, where it is cached."""
        from pyspark.sql import functions as F
        return self.frame.filter(F.col("partition") < 0)

    def repartition(self, partitions):
        """The same samples in ``partitions`` contiguous, nearly equal partitions, cut and moved on the cluster."""
        sizes = [len(x) for x, _ in _split(np.empty(len(self)), np.empty(len(self)), partitions)]
        if sizes == self.counts:
            return self
        if partitions not in self._partitioned:
            offsets = np.concatenate([[0], np.cumsum(self.counts)]).tolist()
            bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
            cut = self.frame.mapInArrow(functools.partial(_cut, offsets, bounds), _CHUNKS)
            self._partitioned[partitions] = _persist(_placed(cut, len(sizes)), self.num_classes,
                                                     self.source).with_inputs(self.input_spec)
        return self._partitioned[partitions]

    def map_chunks(self, fn):
        """A new data set with ``fn(x, y) -> (x, y)`` applied to every chunk on the executors (a reshape, a dtype,
        a target layout); ``fn`` must keep the number of samples. This one stays until ``release``."""
        return _persist(self.frame.mapInArrow(functools.partial(_map_chunks, fn), _CHUNKS), self.num_classes,
                        self.source)

    def to_blocks(self):
        """Every sample gathered on the client as ``Blocks`` (for data that fits there)."""
        pieces = {}
        for row in self.frame.orderBy("partition", "chunk").collect():
            chunk = _chunk(row.asDict())
            if chunk is not None and not isinstance(chunk, str):
                pieces.setdefault(row.partition, []).append(chunk)
        return self._gathered(pieces)

    def release(self):
        """Delete the local files and unpersist the chunks (and those of every repartitioned copy)."""
        for child in self._partitioned.values():
            child.release()
        self._partitioned.clear()
        try:
            self.tasks().mapInArrow(functools.partial(_delete_task, self.key), _STATS).collect()
        except Exception as e:  # noqa: BLE001 - an executor that is gone has no files left to delete
            log.debug("could not delete every local block file of %s: %s", self.key, e)
        self.frame.unpersist()


# ----- building -----
def _persist(frame, num_classes, source):
    """Persist a DataFrame of chunk rows (block i in partition i), write and check every block's local file."""
    from pyspark.storagelevel import StorageLevel
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    key = uuid.uuid4().hex
    try:
        rows = frame.mapInArrow(functools.partial(_store_task, key, source), _STATS).collect()
        merged = ResidentData.merge([pickle.loads(row.stats) for row in rows], num_classes, source)
    except BaseException:
        frame.unpersist()
        raise
    data = ConnectResidentData(frame, key, **merged)
    log.info("%r", data)
    return data


def from_blocks(spark, blocks):
    """``Blocks`` in the client's memory as data kept on the Connect server's executors (one upload)."""
    import pyarrow as pa
    columns = {name: [] for name in _COLUMNS}
    for index, (x, y) in enumerate(blocks.blocks):
        per_chunk = max(1, CHUNK_BYTES // max(1, x[:1].nbytes + y[:1].nbytes))
        for chunk, start in enumerate(range(0, max(1, len(x)), per_chunk)):  # an empty block still has a row
            xc, yc = x[start:start + per_chunk], y[start:start + per_chunk]
            for name, value in zip(_COLUMNS, (index, chunk, len(xc), np.ascontiguousarray(xc).tobytes(),
                                              np.ascontiguousarray(yc).tobytes(), _shape(x), _shape(y), x.dtype.str,
                                              y.dtype.str, None)):
                columns[name].append(value)
    types = [pa.int32(), pa.int64(), pa.int64(), pa.binary(), pa.binary()] + [pa.string()] * 5
    table = pa.table([pa.array(columns[name], t) for name, t in zip(_COLUMNS, types)], names=_COLUMNS)
    frame = _placed(spark.createDataFrame(table), blocks.num_partitions)
    return _persist(frame, blocks.num_classes, blocks.source)


def _shape(a):
    return ",".join(map(str, a.shape[1:]))


def _placed(frame, partitions):
    """``frame``'s chunk rows moved so that block ``i`` is Spark partition ``i``, in row order."""
    from pyspark.sql import functions as F
    slots = slot_values(partitions)
    slot = F.element_at(F.array(*[F.lit(v) for v in slots]), F.col("partition") + 1)
    return (frame.withColumn("slot", slot).repartition(partitions, "slot")
            .sortWithinPartitions("partition", "chunk").drop("slot"))


def slot_values(partitions):
    """For each partition ``i``, an int whose Murmur3 hash (seed 42, as Spark's ``HashPartitioning``) is
    ``i`` modulo ``partitions``: ``repartition(partitions, slot)`` then puts the row in partition ``i``."""
    found, value = {}, 0
    while len(found) < partitions:
        found.setdefault(murmur3_int(value) % partitions, value)
        value += 1
    return [found[i] for i in range(partitions)]


def murmur3_int(value, seed=42):
    """Spark's ``Murmur3_x86_32.hashInt``: the hash ``HashPartitioning`` uses for an int column (signed)."""
    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF
    k1 = rotl((value & 0xFFFFFFFF) * 0xCC9E2D51 & 0xFFFFFFFF, 15) * 0x1B873593 & 0xFFFFFFFF
    h1 = (rotl(seed ^ k1, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    h1 ^= 4
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & 0xFFFFFFFF
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & 0xFFFFFFFF
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 >= 1 << 31 else h1


def from_dataframe(df, features, label, num_classes=None, dtype="float32", decode=None, feature_shape=None,
                   partitions=None, source="DataFrame", source_file=None):
    """``spark_data.from_dataframe`` for a Connect DataFrame: the same conversion, through ``mapInArrow`` only."""
    import pyarrow  # noqa: F401  (fail here, on the client, when Arrow is missing)
    features, columns, decoders = conversion_columns(df, features, label, dtype, decode, source_file)
    feature_shape = None if feature_shape is None else tuple(feature_shape)
    convert = functools.partial(_converted, features, label, np.dtype(dtype).str, decoders, feature_shape,
                                source_file)
    selected = df.select(*columns)
    spec = input_spec_of(selected, features, dtype, decoders, feature_shape) if isinstance(features, tuple) else None
    data = _persist(selected.mapInArrow(convert, _CHUNKS), num_classes, source).with_inputs(spec)
    return cut_once(data, partitions)


def from_parquet(spark, path_or_table, features, label, num_classes=None, dtype="float32", feature_shape=None,
                 partitions=None):
    """``spark_data.from_parquet`` on a Connect session."""
    df, source, source_file = table_source(spark, path_or_table)
    return from_dataframe(df, features, label, num_classes, dtype, None, feature_shape, partitions, source,
                          source_file)


# ----- executor side -----
def _converted(features, label, dtype, decoders, feature_shape, source_file, batches):
    """``_arrow_partition``'s chunks with a long ``chunk`` column (the schema every Connect chunk frame has)."""
    import pyarrow as pa
    for batch in _arrow_partition(features, label, dtype, decoders, feature_shape, source_file, batches):
        yield batch.set_column(1, "chunk", batch.column(1).cast(pa.int64()))


def _chunk(row):
    """One chunk row (a dict) as ``(x, y)``, an error message, or None (an empty block's row)."""
    if row["error"]:
        return row["error"]
    if not row["rows"]:
        return None
    x_shape = tuple(int(s) for s in row["x_shape"].split(",") if s)
    y_shape = tuple(int(s) for s in row["y_shape"].split(",") if s)
    return (np.frombuffer(row["x"], np.dtype(row["x_dtype"])).reshape((row["rows"],) + x_shape),
            np.frombuffer(row["y"], np.dtype(row["y_dtype"])).reshape((row["rows"],) + y_shape))


def partition_chunks(index, batches):
    """Executor side: the chunks of this task's partition, which must all be block ``index``'s."""
    for batch in batches:
        for row in batch.to_pylist():
            if row["partition"] != index:
                yield (f"block {row['partition']} landed in Spark partition {index}: the chunk rows were not "
                       f"placed one block per partition")
                return
            yield _chunk(row)


def _store_task(key, source, batches):
    """Executor side: write this partition's block to its local file; one row with its pickled ``BlockStats``."""
    import pyarrow as pa
    from pyspark import TaskContext
    index = TaskContext.get().partitionId()
    for stats in store_partition(key, source, index, partition_chunks(index, batches)):
        yield stats_batch(pa, index, stats)


def stats_batch(pa, index, value):
    """One ``partition int, stats binary`` row holding ``value`` pickled."""
    return pa.RecordBatch.from_arrays([pa.array([index], pa.int32()), pa.array([pickle.dumps(value)], pa.binary())],
                                      ["partition", "stats"])


def _delete_task(key, batches):
    for _ in batches:
        pass
    delete_files(key, ())
    return iter(())


def _cut(offsets, bounds, batches):
    """Executor side: cut this partition's chunks at the new partitions' bounds; each piece's ``chunk`` is
    its first row's global index, so sorting by it keeps the samples in order."""
    from pyspark import TaskContext
    index = TaskContext.get().partitionId()
    start = offsets[index]
    for chunk in partition_chunks(index, batches):
        if chunk is None:
            continue
        if isinstance(chunk, str):
            raise ValueError(chunk)
        x, y = chunk
        stop = start + len(x)
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        while start < stop:
            end = min(stop, bounds[first + 1])
            a, b = start - (stop - len(x)), end - (stop - len(x))
            yield _chunk_row(first, start, x[a:b], y[a:b])
            start, first = end, first + 1


def _chunk_row(partition, chunk, x, y):
    """One chunk row, as an Arrow record batch of one row."""
    import pyarrow as pa
    values = (partition, chunk, len(x), np.ascontiguousarray(x).tobytes(), np.ascontiguousarray(y).tobytes(),
              _shape(x), _shape(y), x.dtype.str, y.dtype.str, None)
    types = [pa.int32(), pa.int64(), pa.int64(), pa.binary(), pa.binary()] + [pa.string()] * 5
    return pa.RecordBatch.from_arrays([pa.array([v], t) for v, t in zip(values, types)], _COLUMNS)


def _map_chunks(fn, batches):
    """Executor side: ``fn`` applied to each chunk row of this partition (error and empty rows pass as they are)."""
    for batch in batches:
        for row in batch.to_pylist():
            chunk = _chunk(row)
            if chunk is None or isinstance(chunk, str):
                yield batch.slice(0, 0).from_pylist([row], schema=batch.schema)
                continue
            x, y = fn(*chunk)
            if len(x) != row["rows"] or len(y) != row["rows"]:
                raise ValueError(f"map_chunks: {fn!r} turned a chunk of {row['rows']} samples of partition "
                                 f"{row['partition']} into {len(x)} and {len(y)}; it must keep the samples")
            yield _chunk_row(row["partition"], row["chunk"], x, y)
