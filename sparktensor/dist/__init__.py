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
from .checkpoint import checkpoints, gather_to_file, latest_checkpoint, load_shard, save_checkpoint, save_shard
from .data import Blocks, from_numpy
from .engine import Engine
from .flat import FlatLayout
from .history import History
from .local_engine import LocalEngine
from .parameter_averaging import ParameterAveraging, SynchronousSGD
from .resident import ResidentData
from .spark_data import SparkResidentData, from_dataframe, from_parquet, from_rdd
from .worker import batch_indices


# names imported on first use: their modules need optional dependencies (pyspark, dask) or are large
_LAZY = {
    "SparkEngine": "spark_engine",
    "DaskEngine": "dask_engine",
    "from_dask": "dask_data",
    "Mesh": "sharding",
    "shard": "sharding",
    "gather": "sharding",
    "deferred_init": "sharding",
    "HybridTrainer": "hybrid",
    "GangError": "gang",
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
