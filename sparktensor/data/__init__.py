"""Data sets and batching: ``TensorDataset``, ``DataLoader``, and loaders for real data sets installed offline.

Loaders return NumPy arrays; wrap them with ``st.tensor(x, device=...)`` or ``TensorDataset`` to train. A data
set that is not installed raises ``DatasetMissingError`` with the command that installs it; ``.ci/install-datasets``
installs them all. Downloaded archives live in ``data_dir()`` (``$SPARKTENSOR_DATA`` or
``~/.cache/sparktensor/datasets``); Fashion-MNIST lives in ``/usr/share/datasets/fashion-mnist``.
"""
from ._missing import DatasetMissingError, data_dir
from .dataset import TensorDataset
from .digits import load_digits
from .fashion_mnist import load_fashion_mnist, read_idx
from .loader import DataLoader
from .shakespeare import CharVocab, char_batches, char_windows, load_shakespeare, train_val_split
from .ucr import TimeSeries, load_ucr, parse_ts, read_ts

__all__ = ["CharVocab", "DataLoader", "DatasetMissingError", "TensorDataset", "TimeSeries", "char_batches",
           "char_windows", "data_dir", "load_digits", "load_fashion_mnist", "load_shakespeare", "load_ucr",
           "parse_ts", "read_idx", "read_ts", "train_val_split"]
