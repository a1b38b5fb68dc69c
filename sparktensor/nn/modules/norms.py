"""``GroupNorm``, ``InstanceNorm1d``, ``InstanceNorm2d`` and ``RMSNorm``."""
from ... import creation
from ..functional.norms import group_norm, instance_norm, rms_norm
from ..parameter import Parameter
from .module import Module
from .normalization import _NormBase


class GroupNorm(Module):
    """Normalize groups of channels over the channels and positions of each sample, then scale and shift per
    channel.

    Args:
        num_groups: how many groups the channels split into.
        num_channels: C, a multiple of ``num_groups``.
        eps: added to the variance.
        affine: whether to learn per-channel ``weight`` and ``bias``.

    Shape:
        input (N, C, ...); output the same.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(creation.ones(num_channels, dtype=dtype, device=device))
            self.bias = Parameter(creation.zeros(num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.num_channels}, ...), got shape {tuple(x.shape)}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(_NormBase):
    batched_ndim = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, device)

    def forward(self, x):
        if x.ndim not in (self.batched_ndim - 1, self.batched_ndim):
            raise ValueError(f"{self!r}: expected {self.batched_ndim}-D (batched) or {self.batched_ndim - 1}-D "
                             f"input, got shape {tuple(x.shape)}")
        unbatched = x.ndim == self.batched_ndim - 1
        if unbatched:
            x = x.unsqueeze(0)
        use_input_stats = self.training or not self.track_running_stats
        # as PyTorch's instance norms: num_batches_tracked stays 0, and momentum=None means 0 (no running update)
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                          0.0 if self.momentum is None else self.momentum, self.eps)
        return y[0] if unbatched else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalize each channel of each sample over its length.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics.
        affine: whether to learn per-channel ``weight`` and ``bias`` (default False, as PyTorch's).
        track_running_stats: keep running statistics and use them in eval mode.

    Shape:
        input (N, C, L) or (C, L); output the same.
    """
    batched_ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """Normalize each channel of each sample over its height and width.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics.
        affine: whether to learn per-channel ``weight`` and ``bias`` (default False, as PyTorch's).
        track_running_stats: keep running statistics and use them in eval mode.

    Shape:
        input (N, C, H, W) or (C, H, W); output the same.
    """
    batched_ndim = 4


class InstanceNorm3d(_InstanceNorm):
    """Normalize each channel of each sample over its depth, height and width.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics.
        affine: whether to learn per-channel ``weight`` and ``bias`` (default False, as PyTorch's).
        track_running_stats: keep running statistics and use them in eval mode.

    Shape:
        input (N, C, D, H, W) or (C, D, H, W); output the same.
    """
    batched_ndim = 5


class RMSNorm(Module):
    """Divide by the root mean square over the trailing ``normalized_shape`` axes, with a learned scale.

    Args:
        normalized_shape: the trailing shape to normalize over.
        eps: added to the mean square (default: the dtype's machine epsilon).
        elementwise_affine: whether to learn ``weight``.

    Shape:
        input (*, *normalized_shape); output the same.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
