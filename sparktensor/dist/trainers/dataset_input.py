"""A ``DataLoader`` or a ``Dataset`` as training data: its samples gathered on the driver into ``Blocks``.

The trainers split data into partitions and draw each worker's batches themselves (seeded, so runs repeat), so
a loader's batches are read once, in its order, and concatenated: its ``collate_fn``, sampler and the data
set's transforms apply, its ``batch_size`` and ``shuffle`` do not (the trainer's ``batch_size`` does). A
``Dataset`` is read in index order through a ``DataLoader`` with the default collate. Each batch must be an
``(x, y)`` pair; ``x`` may be a tuple of inputs for a model called as ``model(x1, x2, ...)``. The samples must
fit in the driver's memory; larger data belongs in ``from_dataframe``/``from_parquet``.
"""
import numpy as np

from ...tensor import Tensor
from .multi_input import from_numpy


def is_dataset_or_loader(data):
    """True for a ``DataLoader`` or a map-style or iterable data set (ours or PyTorch's, by their protocol)."""
    from ...data import DataLoader, Dataset, IterableDataset
    if isinstance(data, (DataLoader, Dataset, IterableDataset)):
        return True
    kind = type(data).__name__
    return kind.endswith(("DataLoader", "Dataset")) or kind in ("Subset", "TensorDataset")


def from_dataset(data, partitions=None, loader_batch_size=1024):
    """``Blocks`` holding every sample of a ``DataLoader`` or ``Dataset``, in its order."""
    from ...data import DataLoader
    loader = data if hasattr(data, "batch_size") and hasattr(data, "dataset") else \
        DataLoader(data, batch_size=loader_batch_size, collate_fn=_collate)
    xs, ys, several = [], [], None
    for i, batch in enumerate(loader):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"batch {i} of the {type(data).__name__} is a {type(batch).__name__}"
                            f"{'' if not isinstance(batch, (tuple, list)) else f' of {len(batch)}'}; training data "
                            f"must give (x, y) pairs, x an array or a tuple of arrays (one per model input)")
        x, y = batch
        if several is None:
            several = isinstance(x, (tuple, list))
        if isinstance(x, (tuple, list)) != several:
            raise TypeError(f"batch {i} of the {type(data).__name__} has "
                            f"{'several inputs' if not several else 'one input'}, the batches before it the other")
        xs.append(tuple(_array(a) for a in x) if several else _array(x))
        ys.append(_array(y))
    if not ys:
        raise ValueError(f"the {type(data).__name__} gave no batches")
    y = np.concatenate(ys)
    if several:
        x = tuple(np.concatenate([b[k] for b in xs]) for k in range(len(xs[0])))
    else:
        x = np.concatenate(xs)
    return from_numpy(x, y, partitions=partitions)


def _collate(samples):
    """``default_collate`` of samples whose fields may be another library's tensors (a PyTorch data set's)."""
    from ...data import default_collate
    return default_collate([_plain(sample) for sample in samples])


def _plain(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return _array(value) if hasattr(value, "detach") and hasattr(value, "numpy") else value


def _array(value):
    """A batch field as a NumPy array (tensors of either library through their arrays)."""
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    value = value.get() if hasattr(value, "get") and type(value).__module__.startswith("cupy") else value
    return np.asarray(value)
