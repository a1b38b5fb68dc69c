"""Training data in memory as partitions of contiguous NumPy blocks: ``Blocks`` and ``from_numpy``.

Each partition is one ``(x, y)`` pair of NumPy arrays, checked: shapes, dtypes, NaN/Inf, nulls and label
ranges, with errors that name the partition and the column. ``Blocks`` are data already in the driver's
memory; an engine ships each block to the workers once and every round reuses them. Data that does not fit
there stays on the cluster: ``from_rdd``, ``from_dataframe``, ``from_parquet`` (``data.spark``) and
``from_dask`` (``data.dask``) return a ``ResidentData`` instead.
"""
import math

import numpy as np

from ... import backend


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


def steps_per_epoch(counts, batch_size):
    """Local steps a worker needs to see its whole partition once, for the largest partition."""
    return max(1, max(math.ceil(n / batch_size) for n in counts))
