"""Models with several inputs on the trainers' side: ``from_numpy`` of a tuple of arrays, the inputs' description
in errors, and a data set's ``input_spec`` (the packing itself is ``data.packed``'s)."""
from ..data.blocks import _host_array, from_numpy as _from_numpy_single
from ..data.packed import MultiInputBlocks, pack_inputs


def from_numpy(x, y, partitions=None, num_classes=None):
    """``dist.from_numpy``: ``x`` an array, or a tuple of arrays for a model called as ``model(x1, x2, ...)``."""
    if not isinstance(x, tuple):
        return _from_numpy_single(x, y, partitions=partitions, num_classes=num_classes)
    packed, spec = pack_inputs([_host_array(a, f"x[{i}]") for i, a in enumerate(x)])
    single = _from_numpy_single(packed, y, partitions=partitions, num_classes=num_classes)
    return MultiInputBlocks(single.blocks, spec, num_classes)


def describe_inputs(xs):
    """The samples' shapes and dtypes in words, for errors: one input, or each of several."""
    if len(xs) == 1:
        return f"samples, of shape {xs[0].shape[1:]} and dtype {xs[0].dtype}"
    return f"{len(xs)} inputs of shapes " + " and ".join(f"{a.shape[1:]} ({a.dtype})" for a in xs)


def input_spec(blocks):
    """The ``input_spec`` of multi-input blocks, else None."""
    return getattr(blocks, "input_spec", None)
