"""``LayerNorm``, ``BatchNorm1d``, ``BatchNorm2d``."""
from ... import creation
from ..functional.normalization import batch_norm, layer_norm
from ..parameter import Parameter
from .module import Module


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` axes, with a learned elementwise scale and shift.

    Args:
        normalized_shape: the trailing shape to normalize over.
        eps: added to the variance.
        elementwise_affine: whether to learn ``weight`` and ``bias``.

    Shape:
        input (*, *normalized_shape); output the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None, device=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.zeros(self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _NormBase(Module):
    """Per-channel affine parameters and running statistics, shared by batch and instance normalization."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, dtype=None, device=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(creation.ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(creation.zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.tensor(0, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)


class _BatchNorm(_NormBase):
    expected_ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None,
                 device=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, device)

    def forward(self, x):
        if x.ndim not in self.expected_ndims or x.shape[1] != self.num_features:
            dims = " or ".join(f"{n}-D" for n in self.expected_ndims)
            raise ValueError(f"{self!r}: expected {dims} input with {self.num_features} channels in axis 1, "
                             f"got shape {tuple(x.shape)}")
        use_batch = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # a cumulative average of every batch so far, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return batch_norm(x, self.running_mean if self.track_running_stats else None,
                          self.running_var if self.track_running_stats else None, self.weight, self.bias,
                          use_batch, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics; ``None`` for their cumulative average.

    Shape:
        input (N, C) or (N, C, L); output the same.
    """
    expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics; ``None`` for their cumulative average.

    Shape:
        input (N, C, H, W); output the same.
    """
    expected_ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) inputs, per channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics; ``None`` for their cumulative average.

    Shape:
        input (N, C, D, H, W); output the same.
    """
    expected_ndims = (5,)


