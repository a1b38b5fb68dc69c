"""The executor side of ``transform``: an Arrow UDF that runs the broadcast network over batches of features.

The network (with its weights) travels once per model and SparkContext, as one broadcast of cloudpickle bytes
(``Engine.ship``); each Python worker unpickles it on first use and keeps it in ``_NETWORKS``, so a batch of
rows costs one forward pass and nothing is sent per row.
"""
import pickle
from collections import OrderedDict
from typing import Iterator

import numpy as np
import pyarrow as pa
from pyspark import TaskContext

from ..autograd.grad_mode import no_grad
from ..dist.data.convert import arrow_column
from ..tensor import Tensor

_NETWORKS = OrderedDict()  # key -> network in eval mode
_KEEP = 4  # networks a worker remembers
_ROWS_PER_PASS = 1024  # rows per forward pass: bounds activation memory whatever Arrow's batch size

CLASSIFIER_TYPE = "rawPrediction array<double>, probability array<double>, prediction double"
REGRESSOR_TYPE = "double"


def network(key, handle):
    """The network behind ``handle``, unpickled once per Python worker."""
    found = _NETWORKS.get(key)
    if found is None:
        found = pickle.loads(handle.value)
        found.eval()
        while len(_NETWORKS) >= _KEEP:
            _NETWORKS.popitem(last=False)
        _NETWORKS[key] = found
    return found


def make_predictor(key, handle, kind, column, input_shape, dtype):
    """The function of an iterator Arrow UDF: Arrow feature arrays in, predictions out.

    Args:
        key, handle: the shipped network (``Engine.ship``) and a key that names it in the worker's cache.
        kind: ``"classifier"`` (a struct of logits, softmax probabilities and the argmax class) or
            ``"regressor"`` (one double per row).
        column: the features column's name, for messages.
        input_shape: the shape of one sample the network was trained on.
        dtype: the network's floating dtype (features are converted to it).
    """
    input_shape = tuple(input_shape)

    def predict(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        net = network(key, handle)
        index = TaskContext.get().partitionId()
        for array in batches:
            x = arrow_column(array, column, index, None)
            x = samples(x, input_shape, column, index).astype(dtype, copy=False)
            if len(x) == 0:
                yield pa.array([], _arrow_type(kind))
                continue
            out = forward(net, x)
            yield classifier_output(out) if kind == "classifier" else regressor_output(out)

    return predict


def samples(x, input_shape, column, index):
    """Features ``(rows, ...)`` reshaped to ``(rows, *input_shape)``, or a ValueError naming the column."""
    if int(np.prod(x.shape[1:], dtype=np.int64)) != int(np.prod(input_shape, dtype=np.int64)):
        raise ValueError(f"DataFrame partition {index}, column {column!r}: features of shape {list(x.shape[1:])}, "
                         f"but the model was trained on features of shape {list(input_shape)}")
    return x.reshape((len(x),) + input_shape)


def forward(net, x):
    """The network's outputs for ``x``, as NumPy, ``_ROWS_PER_PASS`` rows at a time."""
    with no_grad():
        parts = [net(Tensor(x[i:i + _ROWS_PER_PASS])).numpy() for i in range(0, len(x), _ROWS_PER_PASS)]
    return np.concatenate(parts)


def classifier_output(logits):
    """Logits ``(rows, classes)`` into the struct of ``rawPrediction``, ``probability`` and ``prediction``."""
    logits = logits.reshape(len(logits), -1).astype(np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probability = exp / exp.sum(axis=1, keepdims=True)
    prediction = logits.argmax(axis=1).astype(np.float64)
    return pa.StructArray.from_arrays([_vectors(logits), _vectors(probability), pa.array(prediction)],
                                      names=["rawPrediction", "probability", "prediction"])


def regressor_output(out):
    """Outputs ``(rows,)`` or ``(rows, 1)`` as one double per row."""
    return pa.array(out.reshape(len(out)).astype(np.float64))


def _vectors(rows):
    """A ``(rows, k)`` array as an Arrow list<double> array (one list per row)."""
    n, k = rows.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
    return pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1)))


def _arrow_type(kind):
    """The Arrow type of the UDF's result (``CLASSIFIER_TYPE`` or ``REGRESSOR_TYPE``)."""
    if kind != "classifier":
        return pa.float64()
    vector = pa.list_(pa.float64())
    return pa.struct([("rawPrediction", vector), ("probability", vector), ("prediction", pa.float64())])
