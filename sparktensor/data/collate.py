"""How samples become a batch: ``default_collate`` (PyTorch's rules), ``default_convert`` and ``fetch_batch``.

``default_collate`` stacks tensors and NumPy arrays into one tensor (on the samples' own device), turns Python
ints into int64, floats into float64 and bools into bool tensors (as PyTorch does), keeps strings as a list, and
recurses into dicts, named tuples, tuples and lists field by field. A batch of tuples is a tuple of batches
(PyTorch gives a list; both unpack alike).
"""
import collections.abc

import numpy as np

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _stack(arrays, what):
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: the samples' {what} have different shapes {sorted(shapes)}; make them "
                           f"equal, or pass a collate_fn (e.g. one that calls nn.utils.rnn.pad_sequence)")
    return Tensor(backend.get_array_module(*arrays).stack(arrays))


def default_collate(batch):
    """One batch from a list of samples, by PyTorch's rules (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([t.data for t in batch], "tensors")
    if isinstance(elem, np.ndarray) or backend.is_cupy_array(elem):
        if elem.dtype.kind in "SUO":
            raise TypeError(f"default_collate: cannot stack arrays of dtype {elem.dtype} into a tensor")
        return _stack(list(batch), "arrays")
    if isinstance(elem, np.generic):
        return as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return as_tensor(np.array(batch, dtype=bool))
    if isinstance(elem, int):
        return as_tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return as_tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        return collated if type(elem) is dict else _rebuilt(elem, collated)
    if isinstance(elem, collections.abc.Sequence):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError(f"default_collate: each sample must have the same number of fields, got "
                               f"{sorted({len(s) for s in batch})}")
        fields = [default_collate(list(values)) for values in zip(*batch)]
        if _is_namedtuple(elem):
            return type(elem)(*fields)
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: a sample must hold tensors, NumPy arrays, numbers, strings, dicts or "
                    f"sequences; found {type(elem).__name__}")


def _rebuilt(elem, items):
    """A mapping of the sample's own type when it can be built from a dict, else a dict."""
    try:
        return type(elem)(items)
    except TypeError:
        return items


def default_convert(data):
    """NumPy arrays and scalars to tensors, recursing into dicts and sequences (the collate of ``batch_size=None``)."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SUO" or isinstance(data, np.generic):
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuilt(data, {key: default_convert(v) for key, v in data.items()})
    if _is_namedtuple(data):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):
        return type(data)(default_convert(v) for v in data)
    return data


def fetch_batch(dataset, indices, collate_fn=default_collate):
    """The batch of ``dataset`` at ``indices``: one gather per tensor when the data set offers ``gather`` and the
    collate is the default one, else its samples (``__getitems__`` when defined) through ``collate_fn``."""
    gather = getattr(dataset, "gather", None)
    if gather is not None and collate_fn is default_collate:
        return gather(np.asarray(indices, dtype=np.int64))
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(list(indices)) if getitems else [dataset[i] for i in indices]
    return collate_fn(samples)
