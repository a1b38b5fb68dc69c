"""``ResidentData``: training data whose blocks stay on the cluster; the driver holds counts, shapes and dtypes.

``from_dataframe``, ``from_rdd``, ``from_parquet`` (Spark) and ``from_dask`` (Dask) build each partition's
``(x, y)`` block where the partition lives, check it there, and send back only a ``BlockStats`` record per
partition. ``ResidentData.from_stats`` merges those records on the driver: it raises the executors' errors
(each names its partition, column and file), checks that every partition agrees on shapes and dtypes, and
keeps the two samples a trainer runs through the model before its first round. An engine places a resident
data set of its own kind without moving the samples; each kind repartitions on its cluster.
"""
import numpy as np


class BlockStats:
    """What one executor reports about one block: plain values only, a few hundred bytes.

    Args:
        partition: the block's index.
        rows: its number of samples.
        x_shape, y_shape: the shape of one sample's features and of its label.
        x_dtype, y_dtype: their dtypes (``np.dtype(...).str``).
        label_range: ``(min, max)`` of integer labels, else None.
        head: the first (up to) two samples, ``(x, y)`` arrays, or None for an empty block.
        error: a message naming the partition, the column and the file, when the block cannot be trained on.
    """

    __slots__ = ("partition", "rows", "x_shape", "y_shape", "x_dtype", "y_dtype", "label_range", "head", "error")

    def __init__(self, partition, rows=0, x_shape=None, y_shape=None, x_dtype=None, y_dtype=None,
                 label_range=None, head=None, error=None):
        self.partition, self.rows, self.error = int(partition), int(rows), error
        self.x_shape = None if x_shape is None else tuple(int(s) for s in x_shape)
        self.y_shape = None if y_shape is None else tuple(int(s) for s in y_shape)
        self.x_dtype, self.y_dtype = x_dtype, y_dtype
        self.label_range, self.head = label_range, head

    @classmethod
    def of(cls, partition, x, y):
        """The record of a checked block ``(x, y)``."""
        if len(x) == 0:
            return cls(partition)
        label_range = (int(y.min()), int(y.max())) if y.dtype.kind in "iu" and y.size else None
        return cls(partition, len(x), x.shape[1:], y.shape[1:], x.dtype.str, y.dtype.str, label_range,
                   (np.array(x[:2]), np.array(y[:2])))

    @classmethod
    def failed(cls, partition, error):
        """The record of a block that could not be built or failed its checks."""
        return cls(partition, error=str(error))

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)


class ResidentData:
    """Samples in partitions that stay on the cluster; the driver knows their counts, shapes and dtypes only.

    Subclasses (one per engine kind) add the handle to the cluster's blocks and ``repartition``.
    """

    #: the engine kind that can place these blocks ("spark", "dask")
    kind = None
    #: for a model of several inputs, each input's ``(dtype, sample shape)``: the rows are the inputs packed as
    #: bytes (``data.packed``); None for one input
    input_spec = None

    def __init__(self, counts, feature_shape, label_shape, x_dtype, y_dtype, label_ranges, head, num_classes,
                 source):
        self.counts = [int(n) for n in counts]
        self.feature_shape, self.label_shape = tuple(feature_shape), tuple(label_shape)
        self.x_dtype, self.y_dtype = np.dtype(x_dtype), np.dtype(y_dtype)
        self.label_ranges = list(label_ranges)  # per partition: (min, max) of integer labels, or None
        self.head = head
        self.num_classes, self.source = num_classes, source

    def with_inputs(self, spec):
        """Mark the rows as several inputs packed as ``spec`` says (``head`` then gives them unpacked)."""
        from .packed import unpack_inputs
        if spec is not None:
            self.input_spec = tuple((str(dtype), tuple(shape)) for dtype, shape in spec)
            self.head = (unpack_inputs(self.head[0], self.input_spec), self.head[1])
        return self

    @staticmethod
    def merge(stats, num_classes, source):
        """The keyword arguments of ``ResidentData`` from the blocks' ``BlockStats``, or the executors' errors."""
        stats = sorted(stats, key=lambda s: s.partition)
        errors = [s.error for s in stats if s.error]
        if errors:
            raise ValueError("bad input data:\n  " + "\n  ".join(errors))
        if not stats:
            raise ValueError(f"no partitions in the {source} data")
        full = [s for s in stats if s.rows]
        if not full:
            raise ValueError(f"the {source} data holds no samples (all {len(stats)} partitions are empty)")
        first = full[0]
        for s in full[1:]:
            if (s.x_shape, s.y_shape) != (first.x_shape, first.y_shape):
                raise ValueError(f"partition {s.partition} holds samples of shape {s.x_shape} with labels of shape "
                                 f"{s.y_shape}, partition {first.partition} {first.x_shape} and {first.y_shape}")
            if (s.x_dtype, s.y_dtype) != (first.x_dtype, first.y_dtype):
                raise ValueError(f"partition {s.partition} has dtypes {np.dtype(s.x_dtype)}/{np.dtype(s.y_dtype)}, "
                                 f"partition {first.partition} {np.dtype(first.x_dtype)}/{np.dtype(first.y_dtype)}; "
                                 f"convert them to one dtype")
        if num_classes is not None:
            if np.dtype(first.y_dtype).kind not in "iu":
                raise TypeError(f"num_classes={num_classes} needs integer labels, got {np.dtype(first.y_dtype)}")
            for s in full:
                low, high = s.label_range
                if low < 0 or high >= num_classes:
                    raise ValueError(f"partition {s.partition}: label {low if low < 0 else high} is out of range "
                                     f"for {num_classes} classes")
        return dict(counts=[s.rows for s in stats], feature_shape=first.x_shape, label_shape=first.y_shape,
                    x_dtype=first.x_dtype, y_dtype=first.y_dtype, label_ranges=[s.label_range for s in stats],
                    head=first.head, num_classes=num_classes, source=source)

    @property
    def num_partitions(self):
        """The number of partitions."""
        return len(self.counts)

    def __len__(self):
        return sum(self.counts)

    def repartition(self, partitions):
        """The same samples in ``partitions`` nearly equal partitions, in the same order, moved on the cluster."""
        raise NotImplementedError

    def to_blocks(self):
        """Every sample on the driver, as ``Blocks`` (only for data that fits there, e.g. for ``LocalEngine``)."""
        raise NotImplementedError

    def release(self):
        """Drop the blocks from the cluster's memory and disk."""

    def _gathered(self, pieces):
        """``Blocks`` from ``{partition: [(x, y) chunk, ...]}`` gathered in order (absent partitions empty)."""
        from .blocks import Blocks
        blocks = []
        for index in range(self.num_partitions):
            found = pieces.get(index)
            if found:
                blocks.append((np.concatenate([x for x, _ in found]), np.concatenate([y for _, y in found])))
            else:
                blocks.append((np.zeros((0,) + self.feature_shape, self.x_dtype),
                               np.zeros((0,) + self.label_shape, self.y_dtype)))
        if self.input_spec is not None:
            from .packed import MultiInputBlocks
            return MultiInputBlocks(blocks, self.input_spec, self.num_classes, self.source)
        return Blocks(blocks, self.num_classes, self.source)

    def __repr__(self):
        return (f"{type(self).__name__}({len(self)} samples of shape {self.feature_shape} in "
                f"{self.num_partitions} partitions {self.counts}, from {self.source}, kept on the cluster)")


def check_labels_fit(data, classes):
    """Raise, naming the partition, when ``data``'s integer labels fall outside ``classes`` classes."""
    for i, found in enumerate(data.label_ranges):
        if found is not None and (found[0] < 0 or found[1] >= classes):
            value = found[0] if found[0] < 0 else found[1]
            raise ValueError(f"partition {i} has label {value}, out of range for the model's {classes} classes")


def cut_once(data, partitions):
    """``data`` cut into ``partitions`` on the cluster, keeping only the new cut (``data`` is released, unless
    it was already cut so); ``data`` itself when ``partitions`` is None."""
    if partitions is None:
        return data
    result = data.repartition(int(partitions))
    if result is not data:  # the source's cut was a step on the way: only the new cut stays
        data._partitioned.clear()
        data.release()
    return result
