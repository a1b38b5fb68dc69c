"""``shard``: an ordinary model turned into this rank's share of it; ``gather``: the shares back into one model.

What ``shard`` does to each layer (``comm`` is the model group, M ranks):

* ``Sequential`` chains: a ``Linear`` whose output reaches another ``Linear`` through elementwise layers only
  (activations, dropout) becomes column-parallel and the next one row-parallel, Megatron-style; an unpaired
  ``Linear`` becomes column-parallel with a gathered output. ``Conv1d``/``Conv2d`` (``groups=1``) are split
  by output channels; the split channels pass through activations and pooling as they are, ``Flatten`` then
  ``Linear`` takes them as a row-parallel layer (no gather), and anything else gets them all-gathered first.
* ``LSTM``: hidden units split (``ParallelLSTM``); ``Embedding``: rows split (``VocabParallelEmbedding``);
  ``MultiheadAttention``: heads split (``ParallelMultiheadAttention``: QKV column-parallel, output projection
  row-parallel); a Transformer encoder or decoder layer: its attention so, and ``linear1``/``linear2`` a
  column/row pair; an encoder layer's (and an encoder stack's) residuals and layer norms run on each rank's
  own rows (sequence parallelism, ``transformer.py``);
  a lone ``Linear`` or convolution outside a chain: split, its output gathered.
* Every other layer (batch and layer norm, ``RNN``, ``GRU``, grouped convolutions, custom layers' own
  parameters) stays replicated: each rank keeps a whole copy and computes the same values; a custom module's
  children are sharded by these rules, so ``CharLSTM`` and ``LSTMClassifier`` get a split LSTM and head.

A model built under ``nn.init.deferred_init()`` holds recipes, not weights: ``shard`` then makes only this
rank's slices (and the replicated layers whole), chunk by chunk, with the bits the ordinary model built after
the same ``manual_seed`` would have, so no rank ever holds a whole split weight matrix.

Every sharded layer's output, seen from outside its chain, is whole and the same on every rank, so the
loss and everything after the model need no change. Parameter names are unchanged (a sharded model's
``state_dict`` has the ordinary model's keys with smaller shapes), which is what lets ``gather`` join them.
"""
import copy
from collections import OrderedDict, namedtuple

import numpy as np

from ... import backend
from ...nn import init
from ...nn.modules.activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from ...nn.modules.container import Sequential
from ...nn.modules.conv import Conv1d, Conv2d
from ...nn.modules.dropout import Dropout
from ...nn.modules.embedding import Embedding
from ...nn.modules.flatten import Flatten
from ...nn.modules.linear import Identity, Linear
from ...nn.modules.module import Module
from ...nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ...nn.modules.rnn import LSTM
from ...nn.modules.transformer import TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer
from ...nn.parameter import Parameter
from ...tensor import Tensor
from .attention import ParallelMultiheadAttention, parallel_feed_forward, splits_attention
from .communication import gather_from_parallel
from .conv import ChannelParallelConv
from .embedding import VocabParallelEmbedding
from .linear import ColumnParallelLinear, RowParallelLinear
from .lstm import ParallelLSTM
from .transformer import ParallelTransformerEncoder, ParallelTransformerEncoderLayer

_ELEMENTWISE = (ReLU, LeakyReLU, GELU, ELU, Tanh, Sigmoid, Dropout, Identity)
_PER_CHANNEL = (MaxPool2d, AvgPool2d, AdaptiveAvgPool2d)
_Cut = namedtuple("_Cut", "axis count unit")  # an activation split along axis: count units of unit entries


def shard(model, comm_or_mesh, split_output=False):
    """This rank's sharded copy of ``model`` (which is left unchanged); every rank of the model group calls it.

    Args:
        model: an ordinary ``nn.Module`` with the same weights on every rank.
        comm_or_mesh: the model group's ``Communicator``, or a bound ``Mesh`` (its ``model_comm`` is used).
        split_output: for a ``Sequential`` ending in an unpaired ``Linear`` (an odd number of them): leave its
            output split along the classes (no gather), for ``parallel_cross_entropy``.

    The result computes what ``model`` computes, with each rank holding about 1/M of the split layers'
    parameters as ordinary ``Parameter``s (so any optimizer works on ``sharded.parameters()``); see the
    module docstring for which layers are split. ``gather`` turns the shares back into an ordinary model.
    """
    comm = _model_comm(comm_or_mesh)
    sharded = _shard(model, comm, split_output)
    sharded.__dict__["_shard_comm"] = comm
    sharded.__dict__["_dense_skeleton"] = _Skeleton(model)
    return sharded


def gather(sharded, comm=None, state_dict=False):
    """An ordinary model (or, with ``state_dict=True``, its PyTorch-key state dict) from the ranks' shares.

    Two ways to call it:

    * ``gather(sharded)`` on every rank of the model group, each with its own share (a collective; ``comm``
      defaults to the group ``shard`` used): every rank gets the whole model.
    * ``gather([share_0, ..., share_M-1])`` with every rank's share in model-rank order, where they are all
      at hand (e.g. returned by ``run_threads``): no communication.
    """
    if isinstance(sharded, (list, tuple)):
        first = sharded[0]
        group = first.__dict__.get("_shard_comm")
        if group is not None and group.world_size != len(sharded):
            raise ValueError(f"gather: got {len(sharded)} shares of a model split over {group.world_size} ranks; "
                             f"pass every rank's share, in model-rank order")
        whole = _join(sharded)
    else:
        first = sharded
        group = _model_comm(comm) if comm is not None else sharded.__dict__.get("_shard_comm")
        if group is None:
            raise ValueError("gather: this model was not made by shard(); pass the model group's communicator")
        whole = _gather_collective(sharded, group)
    if state_dict:
        return whole
    skeleton = first.__dict__.get("_dense_skeleton")
    if skeleton is None:
        raise ValueError("gather: this model was not made by shard(), so its ordinary form is unknown; pass "
                         "state_dict=True and load the result into an ordinary model")
    return skeleton.build(whole)


def split_parameters(sharded):
    """``{state-dict key: Split}`` of the parameters that ``sharded`` holds a piece of (the rest are whole)."""
    found = {}
    for prefix, module in sharded.named_modules():
        for name, split in getattr(module, "splits", {}).items():
            if module._parameters.get(name) is not None:
                found[f"{prefix}.{name}" if prefix else name] = split
    return found


# ----- shard -----
def _model_comm(comm_or_mesh):
    comm = getattr(comm_or_mesh, "model_comm", comm_or_mesh)
    if comm is None or not hasattr(comm, "all_gather"):
        raise ValueError(f"expected a Communicator or a bound Mesh, got {comm_or_mesh!r}; bind a mesh on each rank "
                         f"with mesh.bind(comm)")
    return comm


def _shard(module, comm, split_output=False):
    if comm.world_size == 1 and not split_output:
        # nothing to split: every layer stays as it is, a copy on its ordinary path (the parallel layers' collectives
        # and layouts cost a LeNet-5 step of a 2x1 mesh a third more time for nothing)
        return _replicate(module, comm, whole=True)
    if isinstance(module, Sequential) and type(module).forward is Sequential.forward:
        return _shard_chain(module, comm, split_output)
    if split_output:
        raise ValueError(f"shard: split_output=True needs a Sequential ending in Linear, got {type(module).__name__}")
    if isinstance(module, Linear):
        return ColumnParallelLinear.from_dense(module, comm, gather_output=True)
    if _splittable_conv(module):
        return ChannelParallelConv(module, comm, gather_output=True)
    if isinstance(module, LSTM):
        return ParallelLSTM(module, comm)
    if isinstance(module, Embedding) and module.num_embeddings >= comm.world_size:
        return VocabParallelEmbedding(module, comm)
    if splits_attention(module):
        return ParallelMultiheadAttention(module, comm)
    if isinstance(module, (TransformerEncoderLayer, TransformerDecoderLayer)):
        layer = _replicate(module, comm, parallel_feed_forward(module, comm))
        if type(module) is TransformerEncoderLayer and ParallelTransformerEncoderLayer.takes(layer):
            return _recast(layer, ParallelTransformerEncoderLayer)
        return layer
    clone = _replicate(module, comm)
    if type(module) is TransformerEncoder and len(clone.layers) and all(
            type(layer) is ParallelTransformerEncoderLayer for layer in clone.layers):
        return _recast(clone, ParallelTransformerEncoder)
    return clone


def _recast(module, cls):
    """``module``'s state as a ``cls`` (a subclass of its class that only changes ``forward``)."""
    new = cls.__new__(cls)
    new.__dict__.update(module.__dict__)
    return new


def _splittable_conv(module):
    return isinstance(module, (Conv1d, Conv2d)) and module.groups == 1


def _shard_chain(chain, comm, split_output=False):
    """A ``Sequential`` layer by layer, tracking how the running activation is cut (``None``: whole)."""
    items = list(chain._modules.items())
    out, cut = OrderedDict(), None

    def gather_here(name):
        nonlocal cut
        if cut is not None:
            out[f"{name}_gather"] = GatherActivation(comm, cut.axis, cut.unit)
            cut = None

    for i, (name, layer) in enumerate(items):
        following = _next_layer(items, i)
        if isinstance(layer, Linear) and cut is not None and cut.axis == -1 \
                and layer.in_features == cut.count * cut.unit:
            out[name], cut = RowParallelLinear.from_dense(layer, comm, unit=cut.unit), None
        elif isinstance(layer, Linear) and (isinstance(following, Linear) or split_output and following is None):
            gather_here(name)
            out[name] = ColumnParallelLinear.from_dense(layer, comm)
            cut = _Cut(-1, layer.out_features, 1)
        elif _splittable_conv(layer):
            gather_here(name)
            out[name] = ChannelParallelConv(layer, comm)
            cut = _Cut(1, layer.out_channels, 1)
        elif isinstance(layer, _ELEMENTWISE) or (cut is not None and cut.axis == 1 and isinstance(layer, _PER_CHANNEL)):
            out[name] = _replicate(layer, comm)
        elif (cut is not None and cut.axis == 1 and isinstance(layer, Flatten) and layer.start_dim == 1
              and layer.end_dim == -1 and isinstance(following, Linear) and following.in_features % cut.count == 0):
            # whole channels flatten to a contiguous run of features: the next Linear takes them row-parallel
            out[name] = _replicate(layer, comm)
            cut = _Cut(-1, cut.count, following.in_features // cut.count)
        else:
            gather_here(name)
            out[name] = _shard(layer, comm)
    if not split_output:
        gather_here("output")
    elif cut is None:
        raise ValueError("shard: split_output=True, but this chain's output is whole on every rank (its last "
                         "Linear takes a split input, as the second of a column/row pair); it leaves its output "
                         "split when it ends in an odd number of Linear layers")
    return Sequential(out)


def _next_layer(items, i):
    """The first layer after ``items[i]`` that is not elementwise, or None."""
    for _, layer in items[i + 1:]:
        if not isinstance(layer, _ELEMENTWISE):
            return layer
    return None


def _replicate(module, comm, children=None, whole=False):
    """A copy of ``module`` with its own parameters and buffers copied whole and its children sharded (those
    named in ``children`` replaced by the given modules; with ``whole``, copied whole too)."""
    children = children or {}
    if whole:
        children = {k: _replicate(m, comm, whole=True) for k, m in module._modules.items() if m is not None}
    clone = copy.copy(module)
    d = clone.__dict__
    d["_parameters"] = OrderedDict((k, None if p is None else Parameter(init.materialize(p), p.requires_grad))
                                   for k, p in module._parameters.items())
    d["_buffers"] = OrderedDict((k, None if b is None else Tensor(init.materialize(b)))
                                for k, b in module._buffers.items())
    d["_modules"] = OrderedDict((k, children[k] if k in children else None if m is None else _shard(m, comm))
                                for k, m in module._modules.items())
    d["_non_persistent"] = set(module._non_persistent)
    if "_buffer_names" in d:
        d["_buffer_names"] = set(d["_buffer_names"])
    return clone


class GatherActivation(Module):
    """All-gathers a split activation where the next layer needs it whole (inserted by ``shard``)."""

    def __init__(self, comm, axis, unit=1):
        super().__init__()
        self.comm, self.axis, self.unit = comm, axis, unit

    def forward(self, x):
        return gather_from_parallel(x, self.comm, self.axis, self.unit)

    def extra_repr(self):
        return f"axis={self.axis}" + (f", unit={self.unit}" if self.unit != 1 else "")


# ----- gather -----
def _host(t):
    return np.asarray(backend.to_device(t.data, "cpu"))


def _join(shares):
    """The whole state dict from every rank's share, without communication."""
    splits = split_parameters(shares[0])
    states = [s.state_dict() for s in shares]
    keys = list(states[0])
    for rank, state in enumerate(states[1:], 1):
        if list(state) != keys:
            raise ValueError(f"gather: rank {rank}'s share has keys {list(state)}, rank 0's {keys}; the shares are "
                             f"not of one model")
    return OrderedDict((k, splits[k].join([_host(s[k]) for s in states]) if k in splits else _host(states[0][k]).copy())
                       for k in keys)


def _gather_collective(sharded, comm):
    """The whole state dict on every rank of ``comm``: one all-gather per split parameter."""
    splits = split_parameters(sharded)
    return OrderedDict((k, splits[k].gather(_host(t), comm) if k in splits else _host(t).copy())
                       for k, t in sharded.state_dict().items())


class _Skeleton:
    """The ordinary model's structure with zero-memory stand-ins for its parameters: what ``gather`` fills."""

    def __init__(self, model):
        stand_ins = {id(p): Parameter(np.broadcast_to(np.zeros((), p.dtype), p.shape), p.requires_grad)
                     for p in model.parameters()}
        self.model = copy.deepcopy(model, stand_ins)

    def build(self, whole):
        """A new ordinary model holding the arrays of the state dict ``whole``."""
        params = {}
        for key, p in self.model.named_parameters():
            if key not in whole:
                raise ValueError(f"gather: the shares hold no {key!r}; they are not of this model")
            params[id(p)] = Parameter(np.array(whole[key]), p.requires_grad)
        model = copy.deepcopy(self.model, params)
        model.load_state_dict(whole)  # the buffers (and a check of every key and shape)
        return model
