"""Data sets and batching with PyTorch's names (``Dataset``, ``IterableDataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``random_split``, the samplers, ``DataLoader``), and loaders for real data sets installed offline.

Loaders return NumPy arrays; wrap them with ``st.tensor(x, device=...)`` or ``TensorDataset`` to train. A data
set that is not installed raises ``DatasetMissingError`` with the command that installs it; ``.ci/install-datasets``
installs them all. Downloaded archives live in ``data_dir()`` (``$SPARKTENSOR_DATA`` or
``~/.cache/sparktensor/datasets``); Fashion-MNIST lives in ``/usr/share/datasets/fashion-mnist``.
"""
from ._missing import DatasetMissingError, data_dir
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset, TensorDataset
from .digits import load_digits
from .fashion_mnist import load_fashion_mnist, read_idx
from .loader import DataLoader
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .shakespeare import CharVocab, char_batches, char_windows, load_shakespeare, train_val_split
from .splits import ChainDataset, ConcatDataset, Subset, random_split
from .ucr import TimeSeries, load_ucr, parse_ts, read_ts
from .workers import WorkerInfo, get_worker_info

__all__ = ["BatchSampler", "ChainDataset", "CharVocab", "ConcatDataset", "DataLoader", "Dataset",
           "DatasetMissingError", "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
           "SubsetRandomSampler", "TensorDataset", "TimeSeries", "WeightedRandomSampler", "WorkerInfo",
           "char_batches", "char_windows", "data_dir", "default_collate", "default_convert", "get_worker_info",
           "load_digits", "load_fashion_mnist", "load_shakespeare", "load_ucr", "parse_ts", "read_idx", "read_ts",
           "random_split", "train_val_split"]
