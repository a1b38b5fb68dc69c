"""Training data in memory as partitions of contiguous NumPy blocks (``from_numpy``), and the executor-side
conversions of RDD records and Arrow batches that ``spark_data`` builds its executor-resident blocks with.

Each partition is one ``(x, y)`` pair of NumPy arrays, checked: shapes, dtypes, NaN/Inf, nulls and label
ranges, with errors that name the partition and the column. ``Blocks`` are data already in the driver's
memory; an engine ships each block to the workers once and every round reuses them. Data that does not fit
there stays on the cluster: ``from_rdd``, ``from_dataframe``, ``from_parquet`` (``spark_data``) and
``from_dask`` return a ``ResidentData`` instead.
"""
import math

import numpy as np

from .. import backend
from .resident import ResidentData

# Spark types whose values from_dataframe turns into feature or label arrays
_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType",
            "BooleanType")
_CHUNK_BYTES = 4 << 20  # small enough that a few copies per task fit a 1g JVM; far under Arrow's 2 GB limit


class Blocks:
    """Samples split into partitions, each one ``(x, y)`` pair of contiguous NumPy arrays, with their sizes.

    Args:
        blocks: a list of ``(x, y)`` arrays; ``x`` is ``(n, *feature_shape)``, ``y`` is ``(n, *label_shape)``.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
        source: where the blocks came from, for messages (``"array"``, ``"RDD"``, ``"DataFrame"``).
    """

    def __init__(self, blocks, num_classes=None, source="array"):
        self.blocks = [(x, y) for x, y in blocks]
        self.num_classes = num_classes
        self.source = source
        if not self.blocks:
            raise ValueError(f"no partitions in the {source} data")
        first = self.blocks[0]
        for i, (x, y) in enumerate(self.blocks):
            _check_block(x, y, f"partition {i}", num_classes)
            if x.shape[1:] != first[0].shape[1:] or y.shape[1:] != first[1].shape[1:]:
                raise ValueError(f"partition {i} holds samples of shape {x.shape[1:]} with labels of shape "
                                 f"{y.shape[1:]}, partition 0 {first[0].shape[1:]} and {first[1].shape[1:]}")
            if x.dtype != first[0].dtype or y.dtype != first[1].dtype:
                raise ValueError(f"partition {i} has dtypes {x.dtype}/{y.dtype}, partition 0 "
                                 f"{first[0].dtype}/{first[1].dtype}; convert them to one dtype")
        if len(self) == 0:
            raise ValueError(f"the {source} data holds no samples (all {self.num_partitions} partitions are empty)")

    @property
    def num_partitions(self):
        """The number of partitions (blocks)."""
        return len(self.blocks)

    @property
    def counts(self):
        """Samples in each partition."""
        return [len(x) for x, _ in self.blocks]

    def __len__(self):
        return sum(self.counts)

    @property
    def feature_shape(self):
        """The shape of one sample's features."""
        return self.blocks[0][0].shape[1:]

    @property
    def head(self):
        """The first two samples of the first partition that has any, ``(x, y)``."""
        x, y = next((x, y) for x, y in self.blocks if len(x))
        return x[:2], y[:2]

    @property
    def label_ranges(self):
        """Per partition, ``(min, max)`` of integer labels, or None (empty, or not integer labels)."""
        return [(int(y.min()), int(y.max())) if y.dtype.kind in "iu" and y.size else None for _, y in self.blocks]

    def arrays(self):
        """All samples as one ``(x, y)`` pair, partitions in order."""
        return (np.concatenate([x for x, _ in self.blocks]), np.concatenate([y for _, y in self.blocks]))

    def repartition(self, partitions):
        """The same samples in ``partitions`` contiguous blocks of (almost) equal size, in the same order."""
        x, y = self.arrays()
        return Blocks(_split(x, y, partitions), self.num_classes, self.source)

    def __repr__(self):
        return (f"Blocks({len(self)} samples of shape {self.feature_shape} in {self.num_partitions} partitions "
                f"{self.counts}, from {self.source})")


def as_blocks(data, partitions=None):
    """``data`` as ``Blocks``: ``Blocks`` and ``ResidentData`` as they are, an ``(x, y)`` pair of arrays, or an
    RDD of pairs."""
    if isinstance(data, (Blocks, ResidentData)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return from_numpy(data[0], data[1], partitions=partitions)
    if type(data).__name__ == "RDD":
        from .spark_data import from_rdd
        return from_rdd(data)
    if type(data).__name__ == "DataFrame":
        raise TypeError("a DataFrame needs its columns named: pass dist.from_dataframe(df, features=..., label=...)")
    raise TypeError(f"cannot train on a {type(data).__name__}: pass dist.Blocks (from dist.from_numpy, from_rdd "
                    f"or from_dataframe), an (x, y) pair of arrays, or an RDD of (x, y) pairs")


# ----- NumPy -----
def from_numpy(x, y, partitions=None, num_classes=None):
    """Split arrays (or CPU tensors) into partitions of contiguous rows.

    Args:
        x: features, ``(n, *feature_shape)``.
        y: labels or targets, ``(n, *label_shape)``.
        partitions: the number of (nearly equal) partitions, or a list of their sizes (which may be uneven or
            zero). None keeps one partition; trainers split the data into one partition per worker.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
    """
    x, y = _host_array(x, "x"), _host_array(y, "y")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"from_numpy: x and y need the same first dimension (samples), got shapes {x.shape} "
                         f"and {y.shape}")
    return Blocks(_split(x, y, 1 if partitions is None else partitions), num_classes, "array")


def _host_array(a, name):
    a = getattr(a, "data", a) if type(a).__name__ == "Tensor" else a
    a = backend.to_device(a, "cpu") if backend.is_cupy_array(a) else np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: {name} has dtype {a.dtype}; only numeric arrays can be trained on")
    return a


def _split(x, y, partitions):
    if isinstance(partitions, (list, tuple)):
        sizes = [int(s) for s in partitions]
        if any(s < 0 for s in sizes) or sum(sizes) != len(x):
            raise ValueError(f"partition sizes {sizes} must be >= 0 and add up to the {len(x)} samples")
    else:
        if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 1:
            raise ValueError(f"partitions must be a positive integer or a list of sizes, got {partitions!r}")
        base, extra = divmod(len(x), int(partitions))
        sizes = [base + (i < extra) for i in range(int(partitions))]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [(np.ascontiguousarray(x[a:b]), np.ascontiguousarray(y[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def _check_block(x, y, where, num_classes=None, columns=("x", "y")):
    """Raise a ValueError naming ``where`` and the column when a block cannot be trained on."""
    if len(x) != len(y):
        raise ValueError(f"{where}: {len(x)} samples of {columns[0]} but {len(y)} of {columns[1]}")
    for a, name in ((x, columns[0]), (y, columns[1])):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{where}: {name} has dtype {a.dtype}; only numeric data can be trained on")
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"{where}: {name} holds a non-finite value ({a[tuple(bad)]}) in sample {bad[0]}; "
                             f"drop or impute NaN/Inf before training")
    if num_classes is not None and y.size:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{where}: num_classes={num_classes} needs integer labels in {columns[1]}, "
                            f"got {y.dtype}")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            value = low if low < 0 else high
            raise ValueError(f"{where}: label {value} in {columns[1]} is out of range for {num_classes} classes")


# ----- RDD (executor side; the driver side is in spark_data.py) -----
def _rdd_partition(features, label, dtype, index, records):
    """Executor side: one partition of an RDD into ``(index, x, y, error)``."""
    xs, ys = [], []
    try:
        for i, record in enumerate(records):
            x, y = _pair(record, features, label, i)
            xs.append(np.asarray(x.toArray() if hasattr(x, "toArray") else x))
            ys.append(np.asarray(y))
        if not xs:
            yield index, None, None, None
            return
        shapes = {a.shape for a in xs}
        if len(shapes) > 1:
            raise ValueError(f"features of different shapes {sorted(shapes)[:3]}")
        x = np.stack(xs)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"features of dtype {x.dtype}; only numbers can be trained on")
        x = x.astype(dtype or (np.float64 if x.dtype == np.float64 else np.float32), copy=False)
        y = np.stack(ys)
        if y.dtype.kind == "b":
            y = y.astype(np.int64)
        _check_block(x, y, f"partition {index}", None, ("features", "labels"))
        yield index, x, y, None
    except Exception as e:  # reported by the driver, naming the partition; a retry would fail the same way
        yield index, None, None, f"RDD partition {index}: {e}"


def _pair(record, features, label, i):
    if hasattr(record, "asDict"):  # a Row
        fields = record.asDict()
        if features is None and "features" in fields and "label" in fields:
            return fields["features"], fields["label"]
        if features is not None:
            if features not in fields or label not in fields:
                raise KeyError(f"row {i} has fields {list(fields)}, not {features!r} and {label!r}")
            return fields[features], fields[label]
        return record[0], record[1]
    if isinstance(record, (tuple, list)) and len(record) == 2:
        return record
    raise TypeError(f"element {i} is a {type(record).__name__}; from_rdd takes (x, y) pairs or Rows")


def _assemble(parts, num_classes, source):
    """Driver side: ``(index, x, y, error)`` records into Blocks, raising the executors' errors."""
    errors = [error for _, _, _, error in sorted(parts, key=lambda p: p[0]) if error]
    if errors:
        raise ValueError("bad input data:\n  " + "\n  ".join(errors))
    present = [(x, y) for _, x, y, _ in sorted(parts, key=lambda p: p[0]) if x is not None]
    if not present:
        raise ValueError(f"the {source} holds no samples")
    empty_x = np.zeros((0,) + present[0][0].shape[1:], present[0][0].dtype)
    empty_y = np.zeros((0,) + present[0][1].shape[1:], present[0][1].dtype)
    blocks = [(x, y) if x is not None else (empty_x, empty_y) for _, x, y, _ in sorted(parts, key=lambda p: p[0])]
    return Blocks(blocks, num_classes, source)


# ----- DataFrame (executor side, and column checks on the driver; see spark_data.py) -----
def _type_name(data_type):
    return type(data_type).__name__


def _column_expression(df, name, dtype, is_label):
    """The column ``name`` as Arrow can carry it (ML Vectors as arrays), or a TypeError naming it."""
    from pyspark.sql import functions as F
    if name not in df.columns:
        raise ValueError(f"from_dataframe: no column {name!r}; the DataFrame has {df.columns}")
    data_type = df.schema[name].dataType
    kind = _type_name(data_type)
    element = data_type
    while _type_name(element) == "ArrayType":
        element = element.elementType
    if kind == "VectorUDT" and not is_label:
        from pyspark.ml.functions import vector_to_array
        return vector_to_array(F.col(name), "float64" if np.dtype(dtype) == np.float64 else "float32").alias(name)
    if _type_name(element) == "DecimalType":  # Arrow would carry Python Decimals; numbers are wanted
        return F.col(name).cast(data_type.simpleString().replace(element.simpleString(), "double")).alias(name)
    if _type_name(element) in _NUMERIC or (kind == "BinaryType" and not is_label):
        return F.col(name)
    allowed = "numeric or array<number>" if is_label else "numeric, array<number>, ML Vector or binary (with decode=)"
    raise TypeError(f"from_dataframe: column {name!r} has type {data_type.simpleString()}; "
                    f"{'a label' if is_label else 'a feature'} column must be {allowed}")


def _arrow_partition(features, label, dtype, decoders, feature_shape, source_file, batches):
    """Executor side (``mapInArrow``): one partition's Arrow batches into chunks of NumPy bytes, batch by batch
    (a partition never sits whole in the Python worker); a bad batch ends the partition with its error."""
    import pyarrow as pa
    from pyspark import TaskContext
    index = TaskContext.get().partitionId()
    chunk = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        try:
            x, y = _arrow_batch(batch, features, label, dtype, decoders, feature_shape, index)
        except Exception as e:
            message = str(e) if "partition" in str(e) else f"DataFrame partition {index}: {e}"
            if source_file is not None:
                files = sorted(set(batch.column(batch.schema.get_field_index(source_file)).to_pylist()))
                message += f" (file {', '.join(files)})"
            yield _record_batch(pa, [index], [chunk], [0], [None], [None], [None], [None], [None], [None], [message])
            return
        per_chunk = max(1, _CHUNK_BYTES // max(1, x[0].nbytes + y[0].nbytes))
        for start in range(0, len(x), per_chunk):
            xc, yc = x[start:start + per_chunk], y[start:start + per_chunk]
            yield _record_batch(pa, [index], [chunk], [len(xc)], [np.ascontiguousarray(xc).tobytes()],
                                [np.ascontiguousarray(yc).tobytes()], [",".join(map(str, x.shape[1:]))],
                                [",".join(map(str, y.shape[1:]))], [x.dtype.str], [y.dtype.str], [None])
            chunk += 1


def _arrow_batch(batch, features, label, dtype, decoders, feature_shape, index):
    """One Arrow batch's feature and label columns as checked ``(x, y)`` arrays."""
    parts = [_arrow_column(batch.column(batch.schema.get_field_index(name)), name, index, decoders.get(name))
             for name in features]
    x = parts[0] if len(parts) == 1 else np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    x = x.astype(dtype, copy=False)
    y = _arrow_column(batch.column(batch.schema.get_field_index(label)), label, index, None)
    if feature_shape is not None:
        if int(np.prod(x.shape[1:])) != int(np.prod(feature_shape)):
            raise ValueError(f"features of shape {x.shape[1:]} cannot be reshaped to {feature_shape}")
        x = x.reshape((len(x),) + feature_shape)
    y = y.astype(np.int64) if y.dtype.kind in "biu" else y.astype(dtype, copy=False)
    names = ", ".join(features)
    _check_block(x, y, f"DataFrame partition {index}", None, (f"column(s) {names}", f"column {label}"))
    return x, y


def _record_batch(pa, partition, chunk, rows, x, y, x_shape, y_shape, x_dtype, y_dtype, error):
    return pa.RecordBatch.from_arrays(
        [pa.array(partition, pa.int32()), pa.array(chunk, pa.int32()), pa.array(rows, pa.int64()),
         pa.array(x, pa.binary()), pa.array(y, pa.binary()), pa.array(x_shape, pa.string()),
         pa.array(y_shape, pa.string()), pa.array(x_dtype, pa.string()), pa.array(y_dtype, pa.string()),
         pa.array(error, pa.string())],
        ["partition", "chunk", "rows", "x", "y", "x_shape", "y_shape", "x_dtype", "y_dtype", "error"])


def _arrow_column(column, name, index, decode):
    """One Arrow column of a batch as a NumPy array ``(rows, ...)``; nulls and ragged arrays raise, naming it."""
    import pyarrow as pa
    where = f"DataFrame partition {index}, column {name!r}"
    if column.null_count:
        raise ValueError(f"{where}: {column.null_count} null value(s); drop or fill them before training")
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        arrays = [np.asarray(decode(value)) for value in column.to_pylist()]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"{where}: decode returned arrays of different shapes {sorted(shapes)[:3]}")
        return np.stack(arrays) if arrays else np.zeros((0,))
    rows = len(column)
    shape = [rows]
    while pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(
            column.type):
        if pa.types.is_fixed_size_list(column.type):
            shape.append(column.type.list_size)
            column = column.flatten()
            continue
        lengths = np.diff(column.offsets.to_numpy())
        if len(lengths) and (lengths != lengths[0]).any():
            raise ValueError(f"{where}: arrays of different lengths ({lengths.min()} and {lengths.max()}); "
                             f"every sample needs the same shape")
        shape.append(int(lengths[0]) if len(lengths) else 0)
        column = column.flatten()
        if column.null_count:
            raise ValueError(f"{where}: {column.null_count} null element(s) inside the arrays")
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{where}: values of dtype {values.dtype} are not numbers")
    return values.reshape(shape)


def steps_per_epoch(counts, batch_size):
    """Local steps a worker needs to see its whole partition once, for the largest partition."""
    return max(1, max(math.ceil(n / batch_size) for n in counts))
