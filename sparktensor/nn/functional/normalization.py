"""``layer_norm`` and ``batch_norm``, each one graph node with its backward written out."""
from ...backend import get_array_module
from ._grad_paths import KeepsIntermediates, namespace_of, recording
from ._norm_channels import channel_gradients, normalize


def _moments(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    return mean, (centered * centered).mean(axis=axes, keepdims=True)


class NormalizeFunction(KeepsIntermediates):
    """``(x - mean) / sqrt(var + eps) * weight + bias``.

    With ``fixed_stats`` (running statistics in eval mode) mean and var are constants;
    otherwise they are the statistics of ``x`` over ``axes`` and the gradient flows through them.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, axes, param_shape, eps, fixed_stats=None):
        xp = get_array_module(x)
        rows = fixed_stats is None and axes == (x.ndim - 1,)
        if rows:
            # statistics of each row (layer norm): the sum of squares is one dot product a row, and the centred
            # rows are scaled in place (elsewhere in-place updates measured slower: NumPy's allocations of
            # large arrays then page-fault more)
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            inv_std = 1 / xp.sqrt(_row_dot(centered, centered) / x.shape[-1] + eps)
            xhat = _scaled_in_place(centered, inv_std)
        else:
            mean, var = _moments(x, axes) if fixed_stats is None else fixed_stats
            inv_std = 1 / xp.sqrt(var + eps)
            xhat = (x - mean) * inv_std
        w = None if weight is None else weight.reshape(param_shape)
        ctx.weight_shape = (weight if weight is not None else bias if bias is not None else x).shape
        ctx.axes, ctx.param_shape, ctx.batch_stats, ctx.eps = axes, param_shape, fixed_stats is None, eps
        ctx.fixed_stats = fixed_stats
        ctx.save_for_backward(x, weight)
        ctx.keep(xhat, inv_std)
        y = xhat * w if w is not None else xhat
        if bias is not None:
            b = bias.reshape(param_shape)
            y = _add_in_place(y, b) if rows and y is not xhat and y.dtype == xp.result_type(y, b) else y + b
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        xp = namespace_of(gy, x, weight)
        if recording(xp):
            xhat, inv_std = _normalized(xp, x, ctx)  # recomputed, so that they carry the graph of x
        else:
            xhat, inv_std = ctx.intermediates
        w = None if weight is None else weight.reshape(ctx.param_shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        # the parameters broadcast along every axis where their shape has size 1
        shape = (1,) * (gy.ndim - len(ctx.param_shape)) + tuple(ctx.param_shape)
        reduce_axes = tuple(a for a, n in enumerate(shape) if n == 1)
        # layer norm over the last axis, its weight a vector along it
        rows = need_x and ctx.batch_stats and ctx.axes == (gy.ndim - 1,) and w is not None \
            and tuple(ctx.param_shape) == (gy.shape[-1],) and not recording(xp)
        gy_xhat = gy * xhat if need_w or rows else None
        gw = gy_xhat.sum(axis=reduce_axes).reshape(ctx.weight_shape) if need_w else None
        gb = gy.sum(axis=reduce_axes).reshape(ctx.weight_shape) if need_b else None
        gx = None
        if rows:
            # on arrays: the two row means are matrix-vector products with the weight, and the
            # gradient is assembled in place
            n = gy.shape[-1]
            mean_g = (gy @ weight.reshape(-1))[..., None] * (1 / n)  # mean(gy * w) over a row
            mean_gx = (gy_xhat @ weight.reshape(-1))[..., None] * (1 / n)  # mean(gy * w * xhat)
            gx = gy * w
            gx -= mean_g
            gx -= xhat * mean_gx
            gx *= inv_std
        elif need_x:
            gy_xhat = None  # let go before the temporaries below, so that NumPy can reuse its memory
            gxhat = gy * w if w is not None else gy
            if ctx.batch_stats:
                axes = ctx.axes
                gx = inv_std * (gxhat - xp.mean(gxhat, axis=axes, keepdims=True)
                                - xhat * xp.mean(gxhat * xhat, axis=axes, keepdims=True))
            else:
                gx = gxhat * inv_std
        return gx, gw, gb, None, None, None, None


class BatchNormFunction(NormalizeFunction):
    """Batch norm of (N, C, ...) by the batch's statistics (``fixed_stats`` None; ``on_stats(mean, var, count)``
    sees them) or by fixed ones ((mean, var) arrays), then per-channel ``weight`` and ``bias`` (may be None).

    On arrays it works on rows per channel (``_norm_channels``); a recorded gradient (``create_graph``) takes
    ``NormalizeFunction``'s backward, built from differentiable ops.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps, fixed_stats=None, on_stats=None):
        stats = None if fixed_stats is None else tuple(s.reshape(-1) for s in fixed_stats)
        view, y, mean, var, inv_std = normalize(x, weight, bias, eps, stats)
        if on_stats is not None:
            on_stats(mean, var, view.count)
        ctx.weight_shape = (weight if weight is not None else bias if bias is not None else x).shape
        ctx.axes, ctx.param_shape = (0,) + tuple(range(2, x.ndim)), (x.shape[1],) + (1,) * (x.ndim - 2)
        ctx.batch_stats, ctx.eps, ctx.fixed_stats, ctx.view = fixed_stats is None, eps, fixed_stats, view
        ctx.save_for_backward(x, weight)
        ctx.keep(mean, inv_std)
        return view.array(y)

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        if recording(namespace_of(gy, x, weight)):
            return NormalizeFunction.backward(ctx, gy)[:3] + (None, None, None)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx, gw, gb = channel_gradients(ctx.view, x, weight, gy, *ctx.intermediates, ctx.batch_stats, need_x)
        return (None if gx is None else ctx.view.array(gx), gw.reshape(ctx.weight_shape) if need_w else None,
                gb.reshape(ctx.weight_shape) if need_b else None, None, None, None)


def _row_dot(a, b):
    """The dot product of each row (last axis) of ``a`` with that of ``b``, keeping the axis."""
    return (a[..., None, :] @ b[..., :, None])[..., 0]


def _scaled_in_place(a, factor):
    """``a * factor``, written into ``a`` (a fresh array of the forward) when the dtype allows."""
    if a.dtype != get_array_module(a).result_type(a, factor):
        return a * factor
    a *= factor
    return a


def _add_in_place(a, b):
    """``a + b``, written into ``a`` (a fresh array of the forward)."""
    a += b
    return a


def _normalized(xp, x, ctx):
    """``xhat`` and ``1 / sqrt(var + eps)`` of the forward, computed again from ``x`` with ``xp``."""
    if ctx.batch_stats:
        centered = x - xp.mean(x, axis=ctx.axes, keepdims=True)
        var = xp.mean(centered * centered, axis=ctx.axes, keepdims=True)
    else:
        mean, var = ctx.fixed_stats
        centered = x - mean
    inv_std = 1 / xp.sqrt(var + ctx.eps)
    return centered * inv_std, inv_std


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing ``normalized_shape`` axes, then scale and shift elementwise."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {tuple(x.shape)} does not end in the normalized shape "
                         f"{normalized_shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    return NormalizeFunction.apply(x, weight, bias, axes, normalized_shape, eps, None)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize each channel of (N, C, ...) by batch statistics (training) or running statistics (eval).

    In training, ``running_mean`` and ``running_var`` (tensors, may be None) are updated in place with
    ``momentum``; the running variance uses the unbiased batch variance, as PyTorch's.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got {tuple(x.shape)}")
    if not training:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation needs running statistics (track_running_stats=True)")
        shape = (x.shape[1],) + (1,) * (x.ndim - 2)
        return BatchNormFunction.apply(x, weight, bias, eps, (running_mean.data.reshape(shape),
                                                              running_var.data.reshape(shape)), None)
    count = x.size // x.shape[1]
    if count <= 1:
        raise ValueError(f"batch_norm: training needs more than one value per channel, got input {tuple(x.shape)}")

    def update_running(mean, var, count):
        for running, batch in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
            running.data *= 1 - momentum
            running.data += momentum * batch.astype(running.dtype, copy=False)
            running._bump_version()
    return BatchNormFunction.apply(x, weight, bias, eps, None, None if running_mean is None else update_running)
