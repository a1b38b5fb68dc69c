"""What the trainers accept as data, as ``Blocks`` or ``ResidentData``."""
from ..data.blocks import Blocks
from ..data.resident import ResidentData
from .dataset_input import from_dataset, is_dataset_or_loader
from .multi_input import from_numpy


def as_blocks(data, partitions=None):
    """``data`` as ``Blocks``: ``Blocks`` and ``ResidentData`` as they are, an ``(x, y)`` pair of arrays (``x`` a
    tuple of arrays for a model of several inputs), a ``DataLoader`` or ``Dataset``, or an RDD of pairs."""
    if isinstance(data, (Blocks, ResidentData)):
        return data
    if is_dataset_or_loader(data):
        return from_dataset(data, partitions=partitions)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return from_numpy(data[0], data[1], partitions=partitions)
    if type(data).__name__ == "RDD":
        from ..data.spark import from_rdd
        return from_rdd(data)
    if type(data).__name__ == "DataFrame":
        raise TypeError("a DataFrame needs its columns named: pass dist.from_dataframe(df, features=..., label=...)")
    raise TypeError(f"cannot train on a {type(data).__name__}: pass dist.Blocks (from dist.from_numpy, from_rdd "
                    f"or from_dataframe), an (x, y) pair of arrays, a DataLoader or Dataset, or an RDD of (x, y) "
                    f"pairs")
