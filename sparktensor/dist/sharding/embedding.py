"""``VocabParallelEmbedding``: an ``Embedding`` whose rows (the vocabulary) are split across ranks.

Each rank looks up the indices that fall in its rows and writes zeros for the others; one all-reduce adds
the ranks' outputs, so every rank gets every vector. Backward needs no communication: each rank's rows get
the gradient of the positions that picked them. Per step: one all-reduce of (*, embedding_dim) forward.
"""
import numpy as np

from ...backend import get_array_module
from ...nn.functional.embedding import embedding
from ...nn.modules.module import Module
from ...nn.parameter import Parameter
from ...tensor import Tensor
from .communication import reduce_from_parallel
from .split import Split, bounds


class VocabParallelEmbedding(Module):
    """This rank's rows of an ordinary ``Embedding`` (weights copied).

    Args:
        layer: the ordinary ``Embedding`` to split.
        comm: the model group's communicator.

    Shape:
        input: integer tensor (*) of indices into all ``num_embeddings`` rows; output (*, embedding_dim).
    """

    splits = {"weight": Split(0)}

    def __init__(self, layer, comm):
        super().__init__()
        if layer.num_embeddings < comm.world_size:
            raise ValueError(f"VocabParallelEmbedding: {layer.num_embeddings} rows cannot be split over "
                             f"{comm.world_size} ranks (each needs one at least); keep the Embedding replicated")
        self.num_embeddings, self.embedding_dim = layer.num_embeddings, layer.embedding_dim
        self.padding_idx, self.comm = layer.padding_idx, comm
        self.start, self.stop = bounds(layer.num_embeddings, comm.rank, comm.world_size)
        self.weight = Parameter(self.splits["weight"].take(layer.weight.data, comm.rank, comm.world_size),
                                requires_grad=layer.weight.requires_grad)

    def forward(self, indices):
        ids = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        xp = get_array_module(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: indices must be integers, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise IndexError(f"{self!r}: index {bad} is out of range for {self.num_embeddings} embeddings")
        mine = (ids >= self.start) & (ids < self.stop)
        local = xp.where(mine, ids - self.start, 0)
        here = self.padding_idx is not None and self.start <= self.padding_idx < self.stop
        padding = self.padding_idx - self.start if here else None
        y = embedding(Tensor(local), self.weight, padding) * Tensor(mine[..., None].astype(self.weight.dtype))
        return reduce_from_parallel(y, self.comm)

    def extra_repr(self):
        return (f"{self.num_embeddings}, {self.embedding_dim}, rank {self.comm.rank} holds rows "
                f"{self.start}:{self.stop}" + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None
                                                else ""))
