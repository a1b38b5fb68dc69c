"""Samples of several inputs (a model called as ``model(x1, x2, ...)``) packed into one row of bytes each.

``Blocks`` and the executor-resident data sets hold one feature array per partition. For a model of several
inputs, each sample's inputs are packed side by side as raw bytes (``pack_inputs``), so each input keeps its
dtype and shape exactly and the partitions travel and are stored as any other; ``input_spec`` (each input's
dtype and shape) says how the workers split a batch back into ``(x1, x2, ...)`` (``unpack_inputs``).
"""
import numpy as np

from .blocks import Blocks


class MultiInputBlocks(Blocks):
    """``Blocks`` whose feature rows are several inputs packed as bytes; ``input_spec`` says how to unpack them."""

    def __init__(self, blocks, input_spec, num_classes=None, source="array"):
        super().__init__(blocks, num_classes, source)
        self.input_spec = tuple((str(dtype), tuple(shape)) for dtype, shape in input_spec)

    @property
    def feature_shape(self):
        """The shapes of one sample's inputs, a tuple of shapes."""
        return tuple(shape for _, shape in self.input_spec)

    @property
    def head(self):
        x, y = super().head
        return unpack_inputs(x, self.input_spec), y

    def repartition(self, partitions):
        return MultiInputBlocks(super().repartition(partitions).blocks, self.input_spec, self.num_classes,
                                self.source)

    def __repr__(self):
        return (f"MultiInputBlocks({len(self)} samples of {len(self.input_spec)} inputs of shapes "
                f"{self.feature_shape} in {self.num_partitions} partitions {self.counts}, from {self.source})")


def pack_inputs(xs):
    """``(packed, spec)``: the arrays ``xs`` (same first dimension) as one uint8 array of a row per sample."""
    if not xs:
        raise ValueError("from_numpy: x is an empty tuple; give at least one input array")
    n = len(xs[0])
    for i, a in enumerate(xs):
        if a.ndim == 0 or len(a) != n:
            raise ValueError(f"from_numpy: every input needs the same number of samples; x[0] has {n}, x[{i}] has "
                             f"shape {a.shape}")
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"from_numpy: x[{i}] holds a non-finite value ({a[tuple(bad)]}) in sample {bad[0]}; "
                             f"drop or impute NaN/Inf before training")
    rows = [np.ascontiguousarray(a).reshape(n, -1).view(np.uint8) for a in xs]
    spec = tuple((a.dtype.str, a.shape[1:]) for a in xs)
    return np.concatenate(rows, axis=1) if n else np.zeros((0, sum(r.shape[1] for r in rows)), np.uint8), spec


def unpack_inputs(packed, spec):
    """The inputs of the rows ``packed`` as a tuple of arrays, their dtypes and shapes as in ``spec``."""
    inputs, start = [], 0
    for dtype, shape in spec:
        dtype = np.dtype(dtype)
        width = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        columns = np.ascontiguousarray(packed[:, start:start + width])
        inputs.append(columns.view(dtype).reshape((len(packed),) + tuple(shape)))
        start += width
    return tuple(inputs)
