"""Executor side: RDD records and Arrow batches into checked ``(x, y)`` NumPy chunks; and, on the driver, the
Spark column expression that carries a feature or label column through Arrow."""
import numpy as np

from .blocks import _check_block
from .packed import pack_inputs

# Spark types whose values from_dataframe turns into feature or label arrays
_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType",
            "BooleanType")
FILE_COLUMN = "__sparktensor_file"  # the Parquet file of each row, added by from_parquet for its errors
CHUNK_BYTES = 4 << 20  # small enough that a few copies per task fit a 1g JVM; far under Arrow's 2 GB limit



# ----- RDD records -----
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


def _type_name(data_type):
    return type(data_type).__name__


def column_expression(df, name, dtype, is_label):
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
        per_chunk = max(1, CHUNK_BYTES // max(1, x[0].nbytes + y[0].nbytes))
        for start in range(0, len(x), per_chunk):
            xc, yc = x[start:start + per_chunk], y[start:start + per_chunk]
            yield _record_batch(pa, [index], [chunk], [len(xc)], [np.ascontiguousarray(xc).tobytes()],
                                [np.ascontiguousarray(yc).tobytes()], [",".join(map(str, x.shape[1:]))],
                                [",".join(map(str, y.shape[1:]))], [x.dtype.str], [y.dtype.str], [None])
            chunk += 1


def _arrow_batch(batch, features, label, dtype, decoders, feature_shape, index):
    """One Arrow batch's feature and label columns as checked ``(x, y)`` arrays (features a tuple: one input
    per column, packed as bytes, see ``data.packed``)."""
    if isinstance(features, tuple):
        y = _labels(batch, label, dtype, index)
        parts = input_parts(batch, features, dtype, decoders, feature_shape, index)
        for name, part in zip(features, parts):
            _check_block(part, y, f"DataFrame partition {index}", None, (f"column {name}", f"column {label}"))
        return pack_inputs(parts)[0], y
    parts = [arrow_column(batch.column(batch.schema.get_field_index(name)), name, index, decoders.get(name))
             for name in features]
    x = parts[0] if len(parts) == 1 else np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    x = x.astype(dtype, copy=False)
    y = arrow_column(batch.column(batch.schema.get_field_index(label)), label, index, None)
    if feature_shape is not None:
        if int(np.prod(x.shape[1:])) != int(np.prod(feature_shape)):
            raise ValueError(f"features of shape {x.shape[1:]} cannot be reshaped to {feature_shape}")
        x = x.reshape((len(x),) + feature_shape)
    y = y.astype(np.int64) if y.dtype.kind in "biu" else y.astype(dtype, copy=False)
    names = ", ".join(features)
    _check_block(x, y, f"DataFrame partition {index}", None, (f"column(s) {names}", f"column {label}"))
    return x, y


def _labels(batch, label, dtype, index):
    y = arrow_column(batch.column(batch.schema.get_field_index(label)), label, index, None)
    return y.astype(np.int64) if y.dtype.kind in "biu" else y.astype(dtype, copy=False)


def input_parts(batch, features, dtype, decoders, feature_shapes, index):
    """The feature columns of an Arrow batch as one array per column (a model input each): integer columns as
    int64 (token ids, class indices), the others in ``dtype``, each reshaped to its entry of ``feature_shapes``
    (None: as the column gives it)."""
    if feature_shapes is not None and len(feature_shapes) != len(features):
        raise ValueError(f"feature_shape gives {len(feature_shapes)} shapes for the {len(features)} inputs "
                         f"{list(features)}; give one per input column")
    parts = []
    for i, name in enumerate(features):
        part = arrow_column(batch.column(batch.schema.get_field_index(name)), name, index, decoders.get(name))
        part = part.astype(np.int64 if part.dtype.kind in "biu" else dtype, copy=False)
        if feature_shapes is not None and feature_shapes[i] is not None:
            shape = tuple(feature_shapes[i])
            if int(np.prod(part.shape[1:])) != int(np.prod(shape)):
                raise ValueError(f"column {name}: samples of shape {part.shape[1:]} cannot be reshaped to {shape}")
            part = part.reshape((len(part),) + shape)
        parts.append(part)
    return parts


def input_spec_of(selected, features, dtype, decoders, feature_shapes):
    """Driver side, for a tuple of feature columns: each input's ``(dtype, sample shape)``, from the first row
    of ``selected`` converted as the executors convert it (one row crosses to the driver)."""
    table = selected.limit(1).toArrow()
    if not table.num_rows:
        return None
    parts = input_parts(table.combine_chunks().to_batches()[0], features, np.dtype(dtype).str, decoders,
                        feature_shapes, 0)
    return tuple((part.dtype.str, part.shape[1:]) for part in parts)

def _record_batch(pa, partition, chunk, rows, x, y, x_shape, y_shape, x_dtype, y_dtype, error):
    return pa.RecordBatch.from_arrays(
        [pa.array(partition, pa.int32()), pa.array(chunk, pa.int32()), pa.array(rows, pa.int64()),
         pa.array(x, pa.binary()), pa.array(y, pa.binary()), pa.array(x_shape, pa.string()),
         pa.array(y_shape, pa.string()), pa.array(x_dtype, pa.string()), pa.array(y_dtype, pa.string()),
         pa.array(error, pa.string())],
        ["partition", "chunk", "rows", "x", "y", "x_shape", "y_shape", "x_dtype", "y_dtype", "error"])


def arrow_column(column, name, index, decode):
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
    return arrow_values(column, where)


def arrow_values(column, where):
    """An Arrow array of numbers, or of (nested, fixed- or variable-size) lists of numbers, as one NumPy array
    ``(rows, ...)``: each level of lists adds a dimension; ragged lists, nulls inside and other values raise,
    naming ``where``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    shape = [len(column)]
    while pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(
            column.type):
        if column.null_count:
            raise ValueError(f"{where}: {column.null_count} null list(s) inside the values")
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            raise ValueError(f"{where}: arrays of different lengths ({lengths.min()} and {lengths.max()}); "
                             f"every sample needs the same shape")
        shape.append(int(lengths[0]) if len(lengths) else 0)
        column = column.flatten()
    if column.null_count:
        raise ValueError(f"{where}: {column.null_count} null element(s) inside the arrays")
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{where}: values of type {column.type}; a column must hold numbers or lists of numbers")
    return values.reshape(shape)


def conversion_columns(df, features, label, dtype, decode, source_file=None):
    """``(features, columns, decoders)`` for converting ``df``: the feature names as a list (a tuple when given
    one: one model input per column), the column
    expressions to select (the file column last, when given) and the decoders of binary columns; an error
    naming any column that cannot be converted."""
    several = isinstance(features, tuple)  # one model input per column (a list: one input, concatenated)
    features = [features] if isinstance(features, str) else list(features)
    if not features:
        raise ValueError("from_dataframe: name at least one feature column")
    columns, decoders = [], {}
    for name in features + [label]:
        columns.append(column_expression(df, name, dtype, is_label=name == label and name not in features))
        if _type_name(df.schema[name].dataType) == "BinaryType":
            decoders[name] = decode.get(name) if isinstance(decode, dict) else decode
            if decoders[name] is None:
                raise TypeError(f"from_dataframe: column {name!r} is binary; pass decode= (bytes -> array)")
    if source_file is not None:
        columns.append(source_file)
    return tuple(features) if several else features, columns, decoders


def table_source(spark, path_or_table):
    """``(DataFrame, source name, file column or None)`` for a Parquet path or a catalog table name; a path's
    rows carry their file in ``FILE_COLUMN``, for errors."""
    import os

    from pyspark.sql import functions as F
    text = str(path_or_table)
    if os.sep in text or text.endswith(".parquet") or os.path.exists(text):
        df = spark.read.parquet(text).withColumn(FILE_COLUMN, F.input_file_name())
        return df, f"Parquet {text}", FILE_COLUMN
    return spark.table(text), f"table {text}", None
