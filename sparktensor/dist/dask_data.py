"""``from_dask``: Dask arrays and Dask DataFrames as trainer input, one ``dist.Blocks`` partition per chunk.

Arrays: each chunk along axis 0 becomes a partition (chunks along the other axes are joined first); chunks
may hold NumPy arrays or tensors. DataFrames: each partition becomes one, its feature columns side by side,
as ``from_dataframe`` does for Spark. The blocks are computed once (on the default Dask scheduler) and
gathered on the driver, where every engine places them, so the data must fit in the driver's memory.
"""
import numpy as np

from .. import backend
from .data import Blocks, _assemble, _check_block


def from_dask(x, y=None, features=None, label=None, partitions=None, num_classes=None, dtype=None,
              feature_shape=None):
    """Convert Dask data into ``Blocks``: ``from_dask(x, y)`` for arrays, ``from_dask(df, features=, label=)``.

    Args:
        x: a Dask array of samples ``(n, *feature_shape)``, or a Dask DataFrame.
        y: the labels of an array ``x``: a Dask array (rechunked to ``x``'s chunks when they differ) or an array.
        features, label: a DataFrame's feature column(s) (numeric; several are placed side by side) and its
            label column (integer labels become int64 class indices, floating ones ``dtype`` targets).
        partitions: re-split the samples into this many nearly equal partitions (or a list of sizes) instead of
            one per chunk.
        num_classes: when given, integer labels must lie in ``[0, num_classes)``.
        dtype: the features' dtype (arrays: their own by default; DataFrames: float32 by default).
        feature_shape: reshape each DataFrame sample's features to this shape (e.g. ``(1, 28, 28)``).
    """
    import dask.array as da
    if isinstance(x, da.Array):
        if features is not None or label is not None or feature_shape is not None:
            raise TypeError("from_dask: features=, label= and feature_shape= are for DataFrames; pass a Dask "
                            "array's labels as y")
        blocks = _array_blocks(x, y, dtype, num_classes)
    elif _is_dask_frame(x):
        if y is not None:
            raise TypeError("from_dask: a DataFrame carries its labels; name the column with label= instead of y")
        blocks = _frame_blocks(x, features, label, np.dtype(dtype or "float32"), feature_shape, num_classes)
    else:
        raise TypeError(f"from_dask takes a Dask array (with y) or a Dask DataFrame (with features= and label=), "
                        f"not a {type(x).__name__}; for NumPy arrays use dist.from_numpy")
    return blocks if partitions is None else blocks.repartition(partitions)


def _is_dask_frame(x):
    return type(x).__module__.startswith("dask.") and hasattr(x, "columns") and hasattr(x, "to_delayed")


# ----- arrays -----
def _array_blocks(x, y, dtype, num_classes):
    import dask
    import dask.array as da
    if y is None:
        raise TypeError("from_dask(x, y): the labels y are missing")
    y = y if isinstance(y, da.Array) else _host(y, "y")
    for a, name in ((x, "x"), (y, "y")):
        if a.ndim == 0:
            raise ValueError(f"from_dask: {name} needs a first dimension of samples, got a 0-d array")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"from_dask: {name} has dtype {a.dtype}; only numeric arrays can be trained on")
    if not (np.isnan(x.shape[0]) or np.isnan(y.shape[0])) and x.shape[0] != y.shape[0]:
        raise ValueError(f"from_dask: x and y need the same number of samples, got shapes {x.shape} and {y.shape}")
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    xs = list(x.to_delayed().ravel())
    if isinstance(y, da.Array):
        y = y.rechunk({axis: -1 for axis in range(1, y.ndim)})
        if y.chunks[0] != x.chunks[0] and not np.isnan(sum(x.chunks[0])):
            y = y.rechunk({0: x.chunks[0]})
        computed = dask.compute(*xs, *y.to_delayed().ravel())
        x_blocks, y_blocks = computed[:len(xs)], computed[len(xs):]
    else:
        x_blocks, y_blocks = dask.compute(*xs), [y]
    x_blocks = [np.ascontiguousarray(_host(b, "x")) for b in x_blocks]
    y_blocks = [np.ascontiguousarray(_host(b, "y")) for b in y_blocks]
    x_counts, y_counts = [len(b) for b in x_blocks], [len(b) for b in y_blocks]
    if x_counts != y_counts:
        if sum(x_counts) != sum(y_counts):
            raise ValueError(f"from_dask: x holds {sum(x_counts)} samples but y {sum(y_counts)} (chunks of "
                             f"{x_counts} and {y_counts})")
        # chunk sizes were unknown (a DataFrame's .values): split the labels as the samples are split
        y_blocks = np.split(np.concatenate(y_blocks), np.cumsum(x_counts)[:-1])
    if dtype is not None:
        x_blocks = [b.astype(dtype, copy=False) for b in x_blocks]
    return Blocks(list(zip(x_blocks, y_blocks)), num_classes, "Dask array")


def _host(a, name):
    """A NumPy array from a NumPy, CuPy or tensor block; only numbers can be trained on."""
    a = getattr(a, "data", a) if type(a).__name__ == "Tensor" else a
    a = backend.to_device(a, "cpu") if backend.is_cupy_array(a) else np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"from_dask: {name} has dtype {a.dtype}; only numeric arrays can be trained on")
    return a


# ----- DataFrames -----
def _frame_blocks(df, features, label, dtype, feature_shape, num_classes):
    import dask
    features = [features] if isinstance(features, str) else list(features or ())
    if not features or label is None:
        raise ValueError("from_dask(df, features=..., label=...): name the feature column(s) and the label column")
    for name in features + [label]:
        if name not in df.columns:
            raise ValueError(f"from_dask: no column {name!r}; the DataFrame has {list(df.columns)}")
        if not _numeric(df.dtypes[name]):
            role = "label" if name == label and name not in features else "feature"
            raise TypeError(f"from_dask: column {name!r} has dtype {df.dtypes[name]}; a {role} column must be "
                            f"numeric (convert or encode it first)")
    integer_label = _integer(df.dtypes[label])
    shape = None if feature_shape is None else tuple(feature_shape)
    parts = df[list(dict.fromkeys(features + [label]))].to_delayed()
    convert = dask.delayed(_frame_partition, pure=True)
    records = dask.compute(*[convert(part, i, features, label, dtype.str, integer_label, shape, num_classes)
                             for i, part in enumerate(parts)])
    return _assemble(records, num_classes, "Dask DataFrame")


def _numeric(column_dtype):
    from pandas.api import types
    return types.is_numeric_dtype(column_dtype) or types.is_bool_dtype(column_dtype)


def _integer(column_dtype):
    from pandas.api import types
    return types.is_integer_dtype(column_dtype) or types.is_bool_dtype(column_dtype)


def _frame_partition(frame, index, features, label, dtype, integer_label, feature_shape, num_classes):
    """One pandas partition into ``(index, x, y, error)``, the records ``_assemble`` takes."""
    where = f"Dask DataFrame partition {index}"
    try:
        if len(frame) == 0:
            return index, None, None, None
        for name in features + [label]:
            nulls = int(frame[name].isna().sum())
            if nulls:
                raise ValueError(f"{where}, column {name!r}: {nulls} null value(s); drop or fill them before "
                                 f"training")
        columns = [frame[name].to_numpy(dtype=dtype) for name in features]
        x = columns[0] if len(columns) == 1 else np.stack(columns, axis=1)
        if feature_shape is not None:
            if int(np.prod(x.shape[1:])) != int(np.prod(feature_shape)):
                raise ValueError(f"{where}: features of shape {x.shape[1:]} cannot be reshaped to {feature_shape}")
            x = x.reshape((len(x),) + feature_shape)
        y = frame[label].to_numpy(dtype=np.int64 if integer_label else dtype)
        _check_block(x, y, where, num_classes, (f"column(s) {', '.join(features)}", f"column {label!r}"))
        return index, np.ascontiguousarray(x), y, None
    except Exception as e:  # reported on the driver with the other partitions' errors
        return index, None, None, str(e) if where in str(e) else f"{where}: {e}"
