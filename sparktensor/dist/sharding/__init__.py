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
from .split import Split, bounds

__all__ = ["ChannelParallelConv", "ColumnParallelLinear", "GatherActivation", "Mesh", "ParallelLSTM",
           "RowParallelLinear", "Split", "VocabParallelEmbedding", "bounds", "copy_to_parallel", "gather",
           "gather_from_parallel", "parallel_cross_entropy", "reduce_from_parallel", "scatter_to_parallel", "shard",
           "split_parameters"]

