"""Executor side: each partition's block in two raw files and a JSON header in the executor's local directory.

``store_partition`` writes a partition as its chunks stream in (so it never sits whole in the Python worker)
and checks it; ``load_block`` memory-maps it for a round: every Python worker of the executor shares the page
cache's one copy, and a block larger than the worker's memory is paged in as its batches are read.
"""
import json
import os
import uuid

import numpy as np

from .blocks import _check_block
from .resident import BlockStats

MISS = "sparktensor: block not on this executor"
_OPEN = {}  # (key, partition) -> (x, y) memory maps, in this Python worker


def _block_dir(key):
    from pyspark import SparkFiles
    return os.path.join(SparkFiles.getRootDirectory(), "sparktensor-blocks", key)


def store_partition(key, source, index, chunks):
    """Executor side: write a partition's chunks to its local files as they stream in; its ``BlockStats``."""
    where = f"{source} partition {index}"
    folder = _block_dir(key)
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, str(index))
    tmp = f"{base}.{uuid.uuid4().hex}.tmp"
    rows, first, low, high, head = 0, None, None, None, None
    try:
        with open(tmp + ".x", "wb") as fx, open(tmp + ".y", "wb") as fy:
            for chunk in chunks:
                if chunk is None:
                    continue
                if isinstance(chunk, str):
                    raise _Reported(chunk)
                x, y = chunk
                _check_block(x, y, where, None, ("features", "labels"))
                if first is None:
                    first, head = (x.shape[1:], y.shape[1:], x.dtype.str, y.dtype.str), (x[:2], y[:2])
                elif (x.shape[1:], y.shape[1:], x.dtype.str, y.dtype.str) != first:
                    raise ValueError(f"{where}: samples of shape {x.shape[1:]} ({x.dtype}) after {first[0]} "
                                     f"({np.dtype(first[2])}); every sample needs the same shape and dtype")
                if y.dtype.kind in "iu" and y.size:
                    low = int(y.min()) if low is None else min(low, int(y.min()))
                    high = int(y.max()) if high is None else max(high, int(y.max()))
                fx.write(np.ascontiguousarray(x).data)
                fy.write(np.ascontiguousarray(y).data)
                rows += len(x)
        meta = {"rows": rows, "x_shape": list(first[0]) if first else [], "y_shape": list(first[1]) if first else [],
                "x_dtype": first[2] if first else "<f4", "y_dtype": first[3] if first else "<i8"}
        with open(tmp + ".json", "w") as f:
            json.dump(meta, f)
        for suffix in (".x", ".y", ".json"):  # the metadata last: a block is there once its .json is
            os.replace(tmp + suffix, base + suffix)
        _OPEN.pop((key, index), None)
    except Exception as e:
        for suffix in (".x", ".y", ".json"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        message = str(e) if isinstance(e, _Reported) or "partition" in str(e) else f"{where}: {e}"
        yield BlockStats.failed(index, message)
        return
    if not rows:
        yield BlockStats(index)
        return
    label_range = (low, high) if low is not None else None
    yield BlockStats(index, rows, first[0], first[1], first[2], first[3], label_range,
                     (np.array(head[0]), np.array(head[1])))


class _Reported(Exception):
    """An error the conversion already worded, naming its partition."""


def load_block(key, index):
    """Executor side: partition ``index``'s ``(x, y)`` from this executor's local files, or None."""
    found = _OPEN.get((key, index))
    base = os.path.join(_block_dir(key), str(index))
    if found is not None and os.path.exists(base + ".json"):
        return found
    if not os.path.exists(base + ".json"):
        _OPEN.pop((key, index), None)
        return None
    with open(base + ".json") as f:
        meta = json.load(f)
    x_shape, y_shape = (meta["rows"],) + tuple(meta["x_shape"]), (meta["rows"],) + tuple(meta["y_shape"])
    if meta["rows"]:
        # plain ndarray views of the maps: np.memmap's subclass would ride along into every batch and op
        x = np.memmap(base + ".x", np.dtype(meta["x_dtype"]), "r", shape=x_shape).view(np.ndarray)
        y = np.memmap(base + ".y", np.dtype(meta["y_dtype"]), "r", shape=y_shape).view(np.ndarray)
    else:
        x, y = np.zeros(x_shape, meta["x_dtype"]), np.zeros(y_shape, meta["y_dtype"])
    _OPEN[(key, index)] = found = (x, y)
    return found


def delete_files(key, items):
    import shutil
    list(items)
    for k in [k for k in _OPEN if k[0] == key]:
        del _OPEN[k]
    shutil.rmtree(_block_dir(key), ignore_errors=True)
    return []
