"""``group_norm``, ``instance_norm``, ``rms_norm`` and ``normalize``: normalizations beyond layer and batch norm."""
import numpy as np

from ...backend import get_array_module
from ._grad_paths import KeepsIntermediates, namespace_of, recording
from ...ops.elementwise import maximum
from ...ops.linalg import norm
from .normalization import NormalizeFunction

__all__ = ["group_norm", "instance_norm", "rms_norm", "normalize"]


def _affine(y, weight, bias):
    """Scale and shift (N, C, ...) by per-channel ``weight`` and ``bias``."""
    shape = (-1,) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each group of ``C // num_groups`` channels of (N, C, ...) over its channels and positions,
    then scale and shift per channel."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, ...) with C divisible by num_groups={num_groups}, "
                         f"got shape {tuple(x.shape)}")
    grouped = x.reshape(x.shape[0], num_groups, -1)
    y = NormalizeFunction.apply(grouped, None, None, (2,), (1,), eps, None).reshape(tuple(x.shape))
    return _affine(y, weight, bias)


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample of (N, C, ...) over its positions, as PyTorch's.

    With ``use_input_stats`` the statistics are the sample's own, and ``running_mean``/``running_var``
    (when given) are updated in place with the batch average; otherwise the running statistics are used.
    """
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, ...) with at least one spatial axis, got shape "
                         f"{tuple(x.shape)}")
    axes = tuple(range(2, x.ndim))
    param_shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    if not use_input_stats:
        stats = (running_mean.data.reshape(param_shape), running_var.data.reshape(param_shape))
        return NormalizeFunction.apply(x, weight, bias, axes, param_shape, eps, stats)
    if running_mean is not None:
        count = x.size // (x.shape[0] * x.shape[1])
        data = x.data
        mean = data.mean(axis=axes)
        var = data.var(axis=axes) * (count / max(count - 1, 1))
        for running, batch in ((running_mean, mean), (running_var, var)):
            running.data *= 1 - momentum
            running.data += momentum * batch.mean(axis=0).astype(running.dtype, copy=False)
            running._bump_version()
    return NormalizeFunction.apply(x, weight, bias, axes, param_shape, eps, None)


class RmsNormFunction(KeepsIntermediates):
    """``x / sqrt(mean(x**2) + eps) * weight`` over ``axes``."""

    @staticmethod
    def forward(ctx, x, weight, axes, eps):
        xp = get_array_module(x)
        inv_rms = 1 / xp.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
        xhat = x * inv_rms
        ctx.axes, ctx.eps = axes, eps
        ctx.save_for_backward(x, weight)
        ctx.keep(xhat, inv_rms)
        return xhat if weight is None else xhat * weight

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        xp = namespace_of(gy, x, weight)
        if recording(xp):  # recomputed from x, so that they carry its graph
            inv_rms = 1 / xp.sqrt(xp.mean(x * x, axis=ctx.axes, keepdims=True) + ctx.eps)
            xhat = x * inv_rms
        else:
            xhat, inv_rms = ctx.intermediates
        need_x, need_w = ctx.needs_input_grad[:2]
        gw = (gy * xhat).reshape((-1,) + weight.shape).sum(axis=0) if need_w else None
        gx = None
        if need_x:
            g = gy if weight is None else gy * weight
            gx = inv_rms * (g - xhat * xp.mean(g * xhat, axis=ctx.axes, keepdims=True))
        return gx, gw, None, None


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """Divide by the root mean square over the trailing ``normalized_shape`` axes, then scale by ``weight``;
    ``eps`` defaults to the dtype's machine epsilon, as PyTorch's."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(f"rms_norm: input of shape {tuple(x.shape)} does not end in the normalized shape "
                         f"{normalized_shape}")
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    return RmsNormFunction.apply(x, weight, tuple(range(x.ndim - k, x.ndim)), eps)


def normalize(x, p=2.0, dim=1, eps=1e-12):
    """``x / max(norm_p(x), eps)`` along ``dim``."""
    return x / maximum(norm(x, p, dim, keepdim=True), eps)
