"""``Bilinear``."""
import math

from ... import creation
from .. import init
from ...ops.linalg import einsum
from ..parameter import Parameter
from .module import Module


class Bilinear(Module):
    """``y = x1^T A x2 + b``, one matrix ``A`` per output feature.

    Args:
        in1_features, in2_features: the widths of the two inputs.
        out_features: the output's width.
        bias: whether to add a learned bias.

    Shape:
        x1 (*, in1_features), x2 (*, in2_features); output (*, out_features). Weight (out, in1, in2).
    """

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's: U(-1/sqrt(in1_features), 1/sqrt(in1_features)) for weight and bias."""
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1, x2):
        if x1.shape[-1:] != (self.in1_features,) or x2.shape[-1:] != (self.in2_features,):
            raise ValueError(f"{self!r}: expected inputs (*, {self.in1_features}) and (*, {self.in2_features}), "
                             f"got {tuple(x1.shape)} and {tuple(x2.shape)}")
        y = einsum("...i,oij,...j->...o", x1, self.weight, x2)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
