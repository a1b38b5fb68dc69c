"""A user's own table for ``sparktensor train --data`` and ``predict``: Parquet, CSV or a catalog table.

Spark and Dask read it where the data lives and keep the blocks on their executors or workers
(``dist.from_dataframe`` / ``dist.from_dask``); the local engine reads it with Arrow in this process. Without
``--eval-data``, 10% of the rows (a seeded random split) are held out for evaluation.
"""
import os

import numpy as np

HOLD_OUT = 0.1
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")


def table_format(source):
    """``"parquet"``, ``"csv"`` or ``"table"`` (a catalog table name) for a ``--data`` argument."""
    text = str(source)
    if text.endswith(CSV_SUFFIXES) or (os.path.isdir(text) and any(
            name.endswith(CSV_SUFFIXES) for name in os.listdir(text))):
        return "csv"
    if os.path.exists(text) or text.endswith((".parquet", ".pq")) or os.sep in text:
        return "parquet"
    return "table"


def feature_columns(columns, features, label):
    """The feature columns: those named (comma-separated), else every column but the label."""
    if label not in columns:
        raise ValueError(f"--label {label!r} is not a column of the data; its columns are {list(columns)}")
    if features:
        names = [name.strip() for name in features.split(",") if name.strip()]
        missing = [name for name in names if name not in columns]
        if missing:
            raise ValueError(f"--features names {missing}, not columns of the data; its columns are {list(columns)}")
        return names
    return [name for name in columns if name != label]


def parse_shape(text):
    """``"1,28,28"`` -> ``(1, 28, 28)``, or None."""
    if not text:
        return None
    try:
        shape = tuple(int(s) for s in text.split(","))
        if any(s < 1 for s in shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"--feature-shape must be positive integers separated by commas, got {text!r}") from None
    return shape


# ----- Spark -----
def spark_frame(spark, source):
    """A Spark DataFrame of ``source``."""
    kind = table_format(source)
    if kind == "csv":
        sep = "\t" if str(source).endswith(".tsv") else ","
        return spark.read.csv(str(source), header=True, inferSchema=True, sep=sep)
    if kind == "parquet":
        return spark.read.parquet(str(source))
    return spark.table(str(source))


def spark_data(spark, args, partitions):
    """``(train, eval)`` data kept on Spark's executors for ``--data``, ``--eval-data``, ``--features``, ``--label``."""
    from . import dist
    frame = spark_frame(spark, args.data)
    features = feature_columns(frame.columns, args.features, args.label)
    if args.eval_data:
        held = spark_frame(spark, args.eval_data)
    else:
        frame, held = frame.randomSplit([1 - HOLD_OUT, HOLD_OUT], seed=args.seed)
    options = dict(features=features, label=args.label, feature_shape=parse_shape(args.feature_shape))
    train = dist.from_dataframe(frame, partitions=partitions, **options)
    try:
        test = dist.from_dataframe(held, **options)
    except BaseException:
        train.release()
        raise
    return train, test, features


# ----- Dask -----
def dask_data(client, args, partitions):
    """``(train, eval)`` data kept on the Dask workers, read with ``dask.dataframe``."""
    import dask.dataframe as dd

    from . import dist

    def read(source):
        if table_format(source) == "csv":
            return dd.read_csv(str(source), sep="\t" if str(source).endswith(".tsv") else ",")
        return dd.read_parquet(str(source))

    frame = read(args.data)
    features = feature_columns(list(frame.columns), args.features, args.label)
    if args.eval_data:
        held = read(args.eval_data)
    else:
        frame, held = frame.random_split([1 - HOLD_OUT, HOLD_OUT], random_state=args.seed)
    options = dict(features=features, label=args.label, feature_shape=parse_shape(args.feature_shape),
                   client=client)
    return dist.from_dask(frame, partitions=partitions, **options), dist.from_dask(held, **options), features


# ----- one process -----
def local_data(args, partitions):
    """``(train, eval)`` as ``dist.Blocks`` read with Arrow in this process (``--engine local``)."""
    from . import dist
    train, features = _arrow_arrays(args.data, args)
    if args.eval_data:
        test, _ = _arrow_arrays(args.eval_data, args)
    else:
        order = np.random.default_rng(args.seed).permutation(len(train[0]))
        cut = len(order) - max(1, int(round(HOLD_OUT * len(order))))
        test = tuple(a[order[cut:]] for a in train)
        train = tuple(a[order[:cut]] for a in train)
    return dist.from_numpy(*train, partitions=partitions), dist.from_numpy(*test), features


def _arrow_arrays(source, args):
    import pyarrow.dataset

    from .dist.data.convert import arrow_column
    kind = table_format(source)
    if kind == "table":
        raise ValueError(f"--data {source!r} is neither a Parquet nor a CSV path; catalog tables need --engine spark")
    table = pyarrow.dataset.dataset(str(source), format=kind).to_table()
    features = feature_columns(table.column_names, args.features, args.label)
    parts = [arrow_column(table.column(name).combine_chunks(), name, 0, None) for name in features]
    x = parts[0] if len(parts) == 1 else np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    x = x.astype(np.float32)
    shape = parse_shape(args.feature_shape)
    if shape is not None:
        x = x.reshape((len(x),) + shape)
    y = arrow_column(table.column(args.label).combine_chunks(), args.label, 0, None)
    y = y.astype(np.int64) if y.dtype.kind in "biu" else y.astype(np.float32)
    return (x, y), features
