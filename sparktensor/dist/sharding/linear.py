"""``ColumnParallelLinear`` and ``RowParallelLinear``: a ``Linear`` with its weight matrix split across ranks.

A column-parallel layer followed by a row-parallel one is Megatron-LM's pair: the first splits the output
features (its input is whole, its output split), the second splits the input features (its input is the
first one's split output, its output whole after one all-reduce). Elementwise layers between them work on
the split activations as they are. Per pair and step: one all-reduce of (N, out) forward (in the row layer)
and one of (N, in) backward (the column layer's input gradient), each overlapped with compute
(``linear_ops.py``).
"""
from ...autograd.grad_mode import no_grad
from ...nn import init
from ...nn.modules.linear import Linear
from ...nn.modules.module import Module
from ...nn.parameter import Parameter
from ...nn.functional.linear import linear
from .communication import gather_from_parallel, reduce_scatter_rows
from .linear_ops import column_parallel_linear, row_parallel_linear
from .sequence_ops import scattered_linear
from .split import Split, bounds


def _slice_parameter(tensor, split, comm):
    return Parameter(split.take(tensor.data, comm.rank, comm.world_size), requires_grad=tensor.requires_grad)


def _deferred_linear(in_features, out_features, bias, dtype, device):
    """A ``Linear`` holding recipes only: what the parallel layers' constructors take their slices of."""
    with init.deferred_init():
        return Linear(in_features, out_features, bias=bias, dtype=dtype, device=device)


def _reset_from(layer, fresh):
    """Copy this rank's share of ``fresh`` (a deferred ``Linear``) into ``layer``'s parameters."""
    for name in ("weight", "bias"):
        p = getattr(layer, name)
        if p is not None:
            split = layer.splits.get(name)
            values = init.materialize(getattr(fresh, name)) if split is None else \
                split.take(getattr(fresh, name).data, layer.comm.rank, layer.comm.world_size)
            with no_grad():
                p.copy_(values)


class ColumnParallelLinear(Module):
    """``Linear`` whose output features are split across the ranks of ``comm`` (``np.array_split`` sizes).

    Each rank keeps ``weight`` rows and ``bias`` entries of its own output features, as ordinary Parameters.

    Args:
        in_features: size of each input sample (whole on every rank).
        out_features: size of each output sample, all ranks together.
        comm: the model group's communicator.
        bias: whether to add a learned bias.
        gather_output: all-gather the output, so every rank gets all ``out_features`` (else its own slice).

    Shape:
        input (*, in_features); output (*, out_features) gathered, else (*, this rank's share of out_features).
    """

    splits = {"weight": Split(0), "bias": Split(0)}

    def __init__(self, in_features, out_features, comm, bias=True, gather_output=False, dtype=None, device=None):
        super().__init__()
        self._take(_deferred_linear(in_features, out_features, bias, dtype, device), comm, gather_output)

    def _take(self, layer, comm, gather_output):
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self.comm, self.gather_output = comm, bool(gather_output)
        self.start, self.stop = bounds(layer.out_features, comm.rank, comm.world_size)
        self.weight = _slice_parameter(layer.weight, self.splits["weight"], comm)
        if layer.bias is None:
            self.register_parameter("bias", None)
        else:
            self.bias = _slice_parameter(layer.bias, self.splits["bias"], comm)

    def reset_parameters(self):
        """A fresh ``Linear`` default for the whole layer, this rank's rows of it (the bits an ordinary ``Linear``
        would get after the same ``manual_seed``; every rank of ``comm`` calls it with the same seed)."""
        fresh = _deferred_linear(self.in_features, self.out_features, self.bias is not None, self.weight.dtype,
                                 self.weight.device)
        _reset_from(self, fresh)

    @classmethod
    def from_dense(cls, layer, comm, gather_output=False):
        """This rank's column-parallel share of an ordinary ``Linear`` (its weights copied; of one built under
        ``nn.init.deferred_init``, only this share is made)."""
        new = cls.__new__(cls)
        Module.__init__(new)
        new._take(layer, comm, gather_output)
        return new

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input (*, {self.in_features}), got shape {tuple(x.shape)}")
        y = column_parallel_linear(x, self.weight, self.bias, self.comm)
        return gather_from_parallel(y, self.comm, -1) if self.gather_output else y

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features} (rank {self.comm.rank} holds "
                f"{self.start}:{self.stop}), bias={self.bias is not None}, gather_output={self.gather_output}")


class RowParallelLinear(Module):
    """``Linear`` whose input features are split across the ranks of ``comm``; its input arrives split.

    Each rank multiplies its slice of the input by its columns of ``weight``; one all-reduce sums the partial
    products, and the (whole, replicated) ``bias`` is added once, after the sum.

    Args:
        in_features: size of each input sample, all ranks together.
        out_features: size of each output sample (whole on every rank).
        comm: the model group's communicator.
        bias: whether to add a learned bias.
        unit: input features that stay together on one rank (H*W after a channel-split convolution and
            ``Flatten``: each rank then holds whole channels); the ``in_features / unit`` units are split.

    Shape:
        input (*, this rank's share of in_features); output (*, out_features).
    """

    def __init__(self, in_features, out_features, comm, bias=True, unit=1, dtype=None, device=None):
        super().__init__()
        self._take(_deferred_linear(in_features, out_features, bias, dtype, device), comm, unit)

    def _setup(self, in_features, out_features, comm, unit):
        if unit < 1 or in_features % unit:
            raise ValueError(f"RowParallelLinear: in_features {in_features} is not made of whole units of {unit}")
        self.in_features, self.out_features, self.comm, self.unit = in_features, out_features, comm, int(unit)
        start, stop = bounds(in_features // unit, comm.rank, comm.world_size)
        self.start, self.stop = start * unit, stop * unit
        self.splits = {"weight": Split(1, 1, unit)}

    def reset_parameters(self):
        """A fresh ``Linear`` default for the whole layer, this rank's columns of it (see ``ColumnParallelLinear``)."""
        fresh = _deferred_linear(self.in_features, self.out_features, self.bias is not None, self.weight.dtype,
                                 self.weight.device)
        _reset_from(self, fresh)

    @classmethod
    def from_dense(cls, layer, comm, unit=1):
        """This rank's row-parallel share of an ordinary ``Linear`` (its weights copied, the bias whole)."""
        new = cls.__new__(cls)
        Module.__init__(new)
        new._take(layer, comm, unit)
        return new

    def _take(self, layer, comm, unit):
        self._setup(layer.in_features, layer.out_features, comm, unit)
        self.weight = _slice_parameter(layer.weight, self.splits["weight"], comm)
        if layer.bias is None:
            self.register_parameter("bias", None)
        else:
            self.bias = Parameter(init.materialize(layer.bias), requires_grad=layer.bias.requires_grad)

    scatter_axis = None  # set (sequence parallelism): the output is this rank's rows along it, without the bias

    def forward(self, x):
        local = self.stop - self.start
        if x.ndim == 0 or x.shape[-1] != local:
            raise ValueError(f"{self!r}: expected this rank's slice of the input, (*, {local}) (features "
                             f"{self.start}:{self.stop} of {self.in_features}), got shape {tuple(x.shape)}")
        if self.scatter_axis == 0:  # the caller adds the bias to its rows
            return scattered_linear(x, self.weight, self.comm)
        if self.scatter_axis is not None:
            return reduce_scatter_rows(linear(x, self.weight), self.comm, self.scatter_axis)
        return row_parallel_linear(x, self.weight, self.bias, self.comm)

    def extra_repr(self):
        return (f"in_features={self.in_features} (rank {self.comm.rank} holds {self.start}:{self.stop}), "
                f"out_features={self.out_features}, bias={self.bias is not None}")
