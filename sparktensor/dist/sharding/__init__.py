"""Model parallelism: layers whose weights are split across the ranks of a gang, and the tools around them.

```python
import sparktensor.dist as dist

def rank_main(comm, model, x, y):                     # run on every rank, e.g. by engine.run_gang
    mesh = dist.Mesh(data=1, model=comm.world_size).bind(comm)
    sharded = dist.shard(model, mesh)                 # this rank's ~1/M of the weights
    loss = F.cross_entropy(sharded(x), y)             # same value as model(x) on every rank
    loss.backward()                                   # each rank gets its slice's gradients
    return dist.gather(sharded)                       # the ordinary model again
```

A model too big for one rank is built under ``deferred_init()`` (``nn.init.deferred_init``): it holds recipes,
not weights, and ``shard`` makes only this rank's slices, bit for bit those of the ordinary model after the same
``manual_seed``. Checkpoints are per shard (``dist.save_shard``, ``dist.load_shard`` into any M',
``dist.gather_to_file`` streaming the shards into one ordinary safetensors file).

``shard`` picks the sharded layers (column/row-parallel ``Linear``, channel-split convolutions, ``LSTM`` split
by hidden units, ``Embedding`` split by rows); ``communication.py`` holds the four autograd functions that
carry their collectives; ``parallel_cross_entropy`` takes logits left split by ``shard(..., split_output=True)``.
"""
from .communication import copy_to_parallel, gather_from_parallel, reduce_from_parallel, scatter_to_parallel
from .conv import ChannelParallelConv
from .cross_entropy import parallel_cross_entropy
from .convert import GatherActivation, gather, shard, split_parameters
from .embedding import VocabParallelEmbedding
from .linear import ColumnParallelLinear, RowParallelLinear
from .lstm import ParallelLSTM
from .mesh import Mesh
from ...nn.init import deferred_init, materialize_
from .split import Split, bounds

__all__ = ["ChannelParallelConv", "ColumnParallelLinear", "GatherActivation", "Mesh", "ParallelLSTM",
           "RowParallelLinear", "Split", "VocabParallelEmbedding", "bounds", "copy_to_parallel", "deferred_init",
           "gather", "gather_from_parallel", "parallel_cross_entropy", "reduce_from_parallel", "scatter_to_parallel",
           "materialize_", "shard", "split_parameters"]

