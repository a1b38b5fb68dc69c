"""``ChannelParallelConv``: a ``Conv1d``/``Conv2d`` whose output channels are split across ranks.

Each rank convolves the whole input with its own filters, so its output holds its own channels. ReLU,
pooling and the like work on those channels as they are; a layer that needs every channel (the next
convolution, batch norm) gets them from one all-gather along the channel axis, and ``Flatten`` followed by a
``Linear`` needs none: the flattened features of whole channels are a contiguous slice, the input of a
``RowParallelLinear`` (see ``convert.py``). Backward: one all-reduce of the input gradient (N, C_in, ...).
"""
from ...nn.modules.conv import Conv1d, Conv2d
from ...nn.modules.module import Module
from ...nn.parameter import Parameter
from .communication import copy_to_parallel, gather_from_parallel
from .split import Split, bounds


class ChannelParallelConv(Module):
    """This rank's output channels of an ordinary ``Conv1d`` or ``Conv2d`` (``groups=1``), weights copied.

    Args:
        conv: the ordinary convolution to split.
        comm: the model group's communicator.
        gather_output: all-gather the output channels, so every rank gets all of them (else its own).

    Shape:
        input (N, C_in, *spatial) whole; output (N, C_out, *spatial_out) gathered, else (N, own channels, ...).
    """

    splits = {"weight": Split(0), "bias": Split(0)}

    def __init__(self, conv, comm, gather_output=False):
        super().__init__()
        if not isinstance(conv, (Conv1d, Conv2d)) or conv.groups != 1:
            raise ValueError(f"ChannelParallelConv splits a Conv1d or Conv2d with groups=1, got {conv!r}")
        self.dense_type = type(conv)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = (conv.kernel_size, conv.stride, conv.padding,
                                                                      conv.dilation)
        self.comm, self.gather_output = comm, bool(gather_output)
        self.start, self.stop = bounds(conv.out_channels, comm.rank, comm.world_size)
        for name in ("weight", "bias"):
            p = getattr(conv, name)
            if p is None:
                self.register_parameter(name, None)
            else:
                setattr(self, name, Parameter(self.splits[name].take(p.data, comm.rank, comm.world_size),
                                              requires_grad=p.requires_grad))

    def forward(self, x):
        ndim = 2 + len(self.kernel_size)
        if x.ndim != ndim or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected a {ndim}-d input with {self.in_channels} channels on axis 1, got "
                             f"shape {tuple(x.shape)}")
        y = self.dense_type._conv(copy_to_parallel(x, self.comm), self.weight, self.bias, self.stride, self.padding,
                                  self.dilation, 1)
        return gather_from_parallel(y, self.comm, 1) if self.gather_output else y

    def extra_repr(self):
        return (f"{self.dense_type.__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
                f", stride={self.stride}), rank {self.comm.rank} holds channels {self.start}:{self.stop}, "
                f"gather_output={self.gather_output}")
