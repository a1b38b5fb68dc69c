"""``from_dask``: Dask arrays and Dask DataFrames as trainer input whose blocks stay on the Dask workers.

Arrays: each chunk along axis 0 becomes a partition (chunks along the other axes are joined first); chunks
may hold NumPy arrays or tensors. DataFrames: each partition becomes one, its feature columns side by side
(numeric columns, or list columns whose values are arrays of numbers), as ``from_dataframe`` does for Spark.

Each partition's ``(x, y)`` block is built and checked by a task on a worker and kept there as a persisted
future; the client receives one ``BlockStats`` per block. A block lost with its worker is computed again by
Dask from its graph (the source files or arrays), with the same bits. ``repartition`` slices and joins blocks
with tasks on the cluster.
"""
import os

import numpy as np

from ... import backend
from .blocks import _check_block
from .convert import arrow_values
from .resident import BlockStats, ResidentData


def from_dask(x, y=None, features=None, label=None, partitions=None, num_classes=None, dtype=None,
              feature_shape=None, client=None):
    """Dask data kept on the cluster: ``from_dask(x, y)`` for arrays, ``from_dask(df, features=, label=)``.

    Args:
        x: a Dask array of samples ``(n, *feature_shape)``, or a Dask DataFrame.
        y: the labels of an array ``x``: a Dask array or an array (its chunks are aligned with ``x``'s).
        features, label: a DataFrame's feature column(s) (numeric, or lists of numbers, nested lists adding
            dimensions; several are flattened and placed side by side) and its label column (integer labels
            become int64 class indices, floating ones ``dtype`` targets).
        partitions: re-split the samples into this many nearly equal partitions (or a list of sizes) instead of
            one per chunk, on the cluster.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
        dtype: the features' dtype (arrays: their own by default; DataFrames: float32 by default).
        feature_shape: reshape each DataFrame sample's features to this shape (e.g. ``(1, 28, 28)``).
        client: the ``distributed.Client`` (or ``DaskEngine``) whose workers keep the blocks; by default the
            current default client (``distributed.default_client()``).
    """
    import dask.array as da
    if isinstance(x, da.Array):
        if features is not None or label is not None or feature_shape is not None:
            raise TypeError("from_dask: features=, label= and feature_shape= are for DataFrames; pass a Dask "
                            "array's labels as y")
        data = _array_data(_client(client), x, y, dtype, num_classes)
    elif _is_dask_frame(x):
        if y is not None:
            raise TypeError("from_dask: a DataFrame carries its labels; name the column with label= instead of y")
        data = _frame_data(_client(client), x, features, label, np.dtype(dtype or "float32"), feature_shape,
                           num_classes, "Dask DataFrame")
    else:
        raise TypeError(f"from_dask takes a Dask array (with y) or a Dask DataFrame (with features= and label=), "
                        f"not a {type(x).__name__}; for NumPy arrays use dist.from_numpy")
    if partitions is None:
        return data
    try:
        return data.repartition(partitions)
    finally:
        data.release()  # the new blocks keep the old ones' graph, so a lost block can still be recomputed


def read_table(path, features, label, feature_shape=None, num_classes=None, dtype="float32", client=None):
    """A Parquet file or directory, or a CSV file (or glob), read with ``dask.dataframe`` into ``from_dask``."""
    import dask.dataframe as dd
    path = os.fspath(path)
    stem = path[:-3] if path.endswith(".gz") else path
    if os.path.isdir(path) or stem.endswith((".parquet", ".pq")):
        frame, kind = dd.read_parquet(path), "Parquet"
    elif stem.endswith((".csv", ".tsv", ".txt")):
        frame, kind = dd.read_csv(path, sep="\t" if stem.endswith(".tsv") else ","), "CSV"
    else:
        raise ValueError(f"read_table: cannot tell the format of {path!r}: expected a .parquet/.pq file, a "
                         f"directory of Parquet files, or a .csv/.tsv file")
    return _frame_data(_client(client), frame, features, label, np.dtype(dtype), feature_shape, num_classes,
                       f"{kind} {path}")


class DaskResidentData(ResidentData):
    """Blocks kept on a Dask cluster as persisted futures, one ``(x, y)`` pair of NumPy arrays each.

    Args:
        client: the ``distributed.Client`` of the cluster.
        futures: one future per partition, in order.
        view: ``ResidentData``'s keyword arguments (from ``ResidentData.merge``).
    """

    kind = "dask"

    def __init__(self, client, futures, **view):
        super().__init__(**view)
        self.client, self.futures = client, list(futures)

    @classmethod
    def checked(cls, client, futures, num_classes, source):
        """Check the blocks with one small task each, on their workers; raise their errors, naming them."""
        stats = client.gather([client.submit(_block_stats, i, f) for i, f in enumerate(futures)])
        try:
            view = ResidentData.merge(stats, num_classes, source)
        except BaseException:
            for future in futures:
                future.release()
            raise
        empty = (view["feature_shape"], view["label_shape"], view["x_dtype"], view["y_dtype"])
        # an empty partition cannot tell the shape of list columns: give it the shape the others agree on
        futures = [f if s.rows else client.submit(_empty_block, *empty) for f, s in zip(futures, stats)]
        return cls(client, futures, **view)

    def repartition(self, partitions):
        """The same samples in ``partitions`` nearly equal partitions (or a list of sizes), in order, built on
        the cluster."""
        sizes = _sizes(len(self), partitions)
        empty = (np.zeros((0,) + self.feature_shape, self.x_dtype), np.zeros((0,) + self.label_shape, self.y_dtype))
        futures = _rejoined(self.client, self.futures, self.counts, sizes, empty)
        return DaskResidentData.checked(self.client, futures, self.num_classes, self.source)

    def balance(self):
        """Move blocks off workers that hold more than their share onto the others, worker to worker.

        Dask keeps a block where it computed it, so two blocks may share a worker while another has none; each
        round would then run their tasks one after the other. A moved block keeps its graph.
        """
        workers = sorted(self.client.nthreads())
        if len(workers) < 2:
            return
        holders = self.client.who_has(self.futures)
        homes = [next((w for w in holders.get(f.key, ()) if w in workers), None) for f in self.futures]
        load = {w: homes.count(w) for w in workers}
        share = -(-len(self.futures) // len(workers))
        for i, home in enumerate(homes):
            light = min(workers, key=lambda w: (load[w], workers.index(w)))
            if home is not None and load[home] > share and load[light] < share:
                load[home], load[light] = load[home] - 1, load[light] + 1
                moved = self.client.submit(_same, self.futures[i], workers=[light], allow_other_workers=True)
                self.futures[i].release()
                self.futures[i] = moved

    def to_blocks(self):
        """Every block gathered to this process, as ``Blocks``."""
        from .blocks import Blocks
        return Blocks(self.client.gather(self.futures), self.num_classes, self.source)

    def release(self):
        """Let the cluster drop these blocks (other data sharing them keeps them)."""
        for future in self.futures:
            future.release()
        self.futures = []


def _client(client):
    """The given client (or a ``DaskEngine``'s), else the default one."""
    if client is None:
        from distributed import default_client
        try:
            return default_client()
        except ValueError:
            raise ValueError("from_dask keeps the blocks on a Dask cluster and there is no default client: start "
                             "a distributed.Client first, or pass client= (a Client or a DaskEngine)") from None
    from ..engines.dask import DaskEngine
    return client.client if isinstance(client, DaskEngine) else client


def _is_dask_frame(x):
    return type(x).__module__.startswith("dask.") and hasattr(x, "columns") and hasattr(x, "to_delayed")


def _sizes(total, partitions):
    """Partition sizes: a list as given (checked), or ``partitions`` nearly equal ones, the larger first."""
    if isinstance(partitions, (list, tuple)):
        sizes = [int(s) for s in partitions]
        if any(s < 0 for s in sizes) or sum(sizes) != total:
            raise ValueError(f"partition sizes {sizes} must be >= 0 and add up to the {total} samples")
        return sizes
    if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer or a list of sizes, got {partitions!r}")
    base, extra = divmod(total, int(partitions))
    return [base + (i < extra) for i in range(int(partitions))]


def _plan(counts, sizes):
    """For each new partition, the ``(source, start, stop)`` row ranges of the old ones it is made of."""
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    plans, start = [], 0
    for size in sizes:
        stop = start + size
        plans.append([(i, max(start, bounds[i]) - bounds[i], min(stop, bounds[i + 1]) - bounds[i])
                      for i in range(len(counts)) if max(start, bounds[i]) < min(stop, bounds[i + 1])])
        start = stop
    return plans


def _rejoined(client, futures, counts, sizes, empty):
    """Futures of blocks of ``sizes`` rows cut from ``futures`` (of ``counts`` rows), by tasks on the workers.

    New partitions go round robin over the workers (a worker that dies lets the task run elsewhere); a new
    partition that is one whole old block is that block's future.
    """
    workers = sorted(client.nthreads())
    joined = []
    for j, plan in enumerate(_plan(counts, sizes)):
        if len(plan) == 1 and plan[0][1] == 0 and plan[0][2] == counts[plan[0][0]]:
            joined.append(futures[plan[0][0]])
            continue
        sources = sorted({i for i, _, _ in plan})
        local = [(sources.index(i), start, stop) for i, start, stop in plan]
        where = {"workers": [workers[j % len(workers)]], "allow_other_workers": True} if workers else {}
        joined.append(client.submit(_joined, local, empty, *[futures[i] for i in sources], **where))
    return joined


# ----- arrays -----
def _array_data(client, x, y, dtype, num_classes):
    import dask.array as da
    if y is None:
        raise TypeError("from_dask(x, y): the labels y are missing")
    y = y if isinstance(y, da.Array) else _host(y, "y")
    for a, name in ((x, "x"), (y, "y")):
        if a.ndim == 0:
            raise ValueError(f"from_dask: {name} needs a first dimension of samples, got a 0-d array")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"from_dask: {name} has dtype {a.dtype}; only numeric arrays can be trained on")
    known = not (np.isnan(x.shape[0]) or np.isnan(y.shape[0]))
    if known and x.shape[0] != y.shape[0]:
        raise ValueError(f"from_dask: x and y need the same number of samples, got shapes {x.shape} and {y.shape}")
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    if not isinstance(y, da.Array):  # into the graph, so that a lost block can be rebuilt without the client
        y = da.from_array(y, chunks=(x.chunks[0] if known else -1,) + (-1,) * (y.ndim - 1))
    y = y.rechunk({axis: -1 for axis in range(1, y.ndim)})
    if known and y.chunks[0] != x.chunks[0]:
        y = y.rechunk({0: x.chunks[0]})
    xs, ys = list(x.to_delayed().ravel()), list(y.to_delayed().ravel())
    parts = client.compute(xs + ys)
    xs, ys = parts[:len(xs)], parts[len(xs):]
    if not known:  # a DataFrame's .values: the sizes are found on the workers, and y is cut to x's
        x_counts = client.gather([client.submit(_rows, f) for f in xs])
        y_counts = client.gather([client.submit(_rows, f) for f in ys])
        if sum(x_counts) != sum(y_counts):
            raise ValueError(f"from_dask: x holds {sum(x_counts)} samples but y {sum(y_counts)} (chunks of "
                             f"{x_counts} and {y_counts})")
        if x_counts != y_counts:
            ys = _rejoined(client, ys, y_counts, x_counts, np.zeros((0,) + y.shape[1:], y.dtype))
    blocks = [client.submit(_array_block, i, xb, yb, None if dtype is None else np.dtype(dtype).str, num_classes)
              for i, (xb, yb) in enumerate(zip(xs, ys))]
    return DaskResidentData.checked(client, blocks, num_classes, "Dask array")


def _host(a, name):
    """A NumPy array from a NumPy, CuPy or tensor block; only numbers can be trained on."""
    a = getattr(a, "data", a) if type(a).__name__ == "Tensor" else a
    a = backend.to_device(a, "cpu") if backend.is_cupy_array(a) else np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"from_dask: {name} has dtype {a.dtype}; only numeric arrays can be trained on")
    return a


# ----- DataFrames -----
def _frame_data(client, df, features, label, dtype, feature_shape, num_classes, source):
    import dask
    features = [features] if isinstance(features, str) else list(features or ())
    if not features or label is None:
        raise ValueError("from_dask(df, features=..., label=...): name the feature column(s) and the label column")
    for name in features + [label]:
        if name not in df.columns:
            raise ValueError(f"from_dask: no column {name!r}; the DataFrame has {list(df.columns)}")
        if not (_numeric(df.dtypes[name]) or _maybe_lists(df.dtypes[name])):
            role = "label" if name == label and name not in features else "feature"
            hint = (" If it held lists, Dask turned them into strings: read them from Parquet, or make the frame "
                    "under dask.config.set({'dataframe.convert-string': False})" if df.dtypes[name] == "string" else "")
            raise TypeError(f"from_dask: column {name!r} has dtype {df.dtypes[name]}; a {role} column must be "
                            f"numeric or lists of numbers (convert or encode it first).{hint}")
    integer_label = _integer(df.dtypes[label])
    shape = None if feature_shape is None else tuple(int(s) for s in feature_shape)
    parts = df[list(dict.fromkeys(features + [label]))].to_delayed()
    convert = dask.delayed(_frame_block, pure=True)
    blocks = client.compute([convert(part, f"{source} partition {i}", features, label, dtype.str, integer_label,
                                     shape, num_classes) for i, part in enumerate(parts)])
    return DaskResidentData.checked(client, blocks, num_classes, source)


def _numeric(column_dtype):
    from pandas.api import types
    return types.is_numeric_dtype(column_dtype) or types.is_bool_dtype(column_dtype)


def _integer(column_dtype):
    from pandas.api import types
    return types.is_integer_dtype(column_dtype) or types.is_bool_dtype(column_dtype)


def _maybe_lists(column_dtype):
    """Object columns (Parquet lists read as NumPy arrays) and Arrow list columns; their values are checked on
    the workers."""
    import pyarrow as pa
    if column_dtype == object:
        return True
    arrow = getattr(column_dtype, "pyarrow_dtype", None)
    return arrow is not None and (pa.types.is_list(arrow) or pa.types.is_large_list(arrow)
                                  or pa.types.is_fixed_size_list(arrow))


# ----- worker side -----
class _Failure:
    """A block that could not be built: its message travels to the client in the block's ``BlockStats``."""

    def __init__(self, message):
        self.message = message


def _block_stats(index, block):
    """Worker side: the ``BlockStats`` of partition ``index``."""
    if isinstance(block, _Failure):
        return BlockStats.failed(index, block.message)
    return BlockStats.of(index, *block)


def _empty_block(feature_shape, label_shape, x_dtype, y_dtype):
    return np.zeros((0,) + tuple(feature_shape), x_dtype), np.zeros((0,) + tuple(label_shape), y_dtype)


def _same(block):
    return block


def _rows(value):
    return len(value)


def _joined(plan, empty, *values):
    """Worker side: the rows ``[start, stop)`` of each ``values[k]`` in ``plan``, joined into one block."""
    pieces = [_cut(values[k], start, stop) for k, start, stop in plan]
    if not pieces:
        return empty
    if isinstance(pieces[0], tuple):
        return tuple(np.ascontiguousarray(np.concatenate(column)) for column in zip(*pieces))
    return np.ascontiguousarray(np.concatenate(pieces))


def _cut(value, start, stop):
    if isinstance(value, tuple):
        return tuple(v[start:stop] for v in value)
    return _host(value, "y")[start:stop]


def _array_block(index, x, y, dtype, num_classes):
    """Worker side: chunk ``index`` of an array and of its labels as a checked ``(x, y)`` block."""
    where = f"Dask array partition {index}"
    try:
        x, y = np.ascontiguousarray(_host(x, "x")), np.ascontiguousarray(_host(y, "y"))
        if dtype is not None:
            x = x.astype(dtype, copy=False)
        _check_block(x, y, where, num_classes)
        return x, y
    except Exception as e:  # reported on the client with the other partitions' errors
        return _Failure(str(e) if where in str(e) else f"{where}: {e}")


def _frame_block(frame, where, features, label, dtype, integer_label, feature_shape, num_classes):
    """Worker side: one pandas partition as a checked ``(x, y)`` block, or the ``_Failure`` naming the column."""
    try:
        if len(frame) == 0:
            return np.zeros((0,), dtype), np.zeros((0,), np.int64)  # given its shape by DaskResidentData.checked
        columns = [_column(frame[name], name, dtype, where) for name in features]
        x = columns[0] if len(columns) == 1 else np.concatenate([c.reshape(len(c), -1) for c in columns], axis=1)
        if feature_shape is not None:
            if int(np.prod(x.shape[1:])) != int(np.prod(feature_shape)):
                raise ValueError(f"{where}: features of shape {x.shape[1:]} cannot be reshaped to {feature_shape}")
            x = x.reshape((len(x),) + feature_shape)
        y = _column(frame[label], label, None, where)
        y = y.astype(np.int64 if integer_label or y.dtype.kind in "biu" else dtype, copy=False)
        _check_block(x, y, where, num_classes, (f"column(s) {', '.join(map(repr, features))}", f"column {label!r}"))
        return np.ascontiguousarray(x), np.ascontiguousarray(y)
    except Exception as e:  # reported on the client with the other partitions' errors
        return _Failure(str(e) if where in str(e) else f"{where}: {e}")


def _column(series, name, dtype, where):
    """One column of a partition as an array ``(rows, ...)`` of ``dtype`` (None: its own); lists add dimensions."""
    nulls = int(series.isna().sum())
    if nulls:
        raise ValueError(f"{where}, column {name!r}: {nulls} null value(s); drop or fill them before training")
    if _numeric(series.dtype):
        return series.to_numpy(dtype=dtype)
    values = _nested(series, name, where)
    return values if dtype is None else values.astype(dtype, copy=False)


def _nested(series, name, where):
    """Lists of numbers (nested lists for more dimensions) as one array; ragged lists raise, naming the column."""
    import pyarrow as pa
    try:
        column = pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise TypeError(f"{where}, column {name!r}: values that are neither numbers nor lists of numbers "
                        f"({e})") from None
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return arrow_values(column, f"{where}, column {name!r}")
