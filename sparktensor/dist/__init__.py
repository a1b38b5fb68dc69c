"""Training on a cluster: SparkNet parameter averaging and synchronous SGD, on Spark or in one process.

```python
import sparktensor.dist as dist

data = dist.from_dataframe(df, features="pixels", label="label")  # or from_parquet / from_rdd / from_numpy
trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=10, batch_size=64)
model, history = trainer.fit(data, epochs=3, eval_data=test, checkpoint_dir="ckpt")
```

Engines: ``SparkEngine`` (the default: the active SparkSession or an embedded ``local[*]`` one),
``DaskEngine`` (a ``distributed.Client``, or a ``LocalCluster`` it starts; ``from_dask`` reads Dask arrays and
DataFrames) and ``LocalEngine`` (one process, the reference). Model and hybrid parallelism: ``shard``,
``gather``, ``Mesh`` and ``HybridTrainer``, on gangs of ranks (``engine.run_gang``). Nothing here imports
pyspark or dask until an engine or a data source that needs it is used.
"""
from .data.blocks import Blocks
from .data.resident import ResidentData
from .data.spark import SparkResidentData, from_dataframe, from_parquet, from_rdd
from .engines.base import Engine
from .engines.local import LocalEngine
from .trainers.checkpoint import (checkpoints, gather_to_file, latest_checkpoint, load_shard, save_checkpoint,
                                  save_shard)
from .trainers.flat import FlatLayout
from .trainers.history import History
from .trainers.multi_input import MultiInputBlocks, from_numpy  # from_numpy takes a tuple of inputs too
from .trainers.parameter_averaging import ParameterAveraging, SynchronousSGD
from .trainers.worker import batch_indices


# names imported on first use: their modules need optional dependencies (pyspark, dask) or are large
_LAZY = {
    "SparkEngine": "engines.spark",
    "DaskEngine": "engines.dask",
    "from_dask": "data.dask",
    "Mesh": "sharding",
    "shard": "sharding",
    "gather": "sharding",
    "deferred_init": "sharding",
    "HybridTrainer": "trainers.hybrid.trainer",
    "GangError": "engines.gang",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sparktensor.dist' has no attribute {name!r}")


__all__ = ["Blocks", "DaskEngine", "Engine", "FlatLayout", "GangError", "History", "HybridTrainer", "LocalEngine",
           "Mesh", "ParameterAveraging", "ResidentData", "SparkEngine", "SparkResidentData", "SynchronousSGD",
           "batch_indices", "checkpoints", "deferred_init", "from_dask", "from_dataframe", "from_numpy",
           "from_parquet", "from_rdd", "gather", "gather_to_file", "latest_checkpoint", "load_shard",
           "save_checkpoint", "save_shard", "shard"]
