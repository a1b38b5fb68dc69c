"""Losses: cross entropy, negative log likelihood, MSE, L1, BCE with logits, Huber."""
from ...autograd.function import Function
from ...backend import get_array_module
from ...ops import elementwise as E, reduction as R


def _reduce(loss, reduction):
    if reduction == "mean":
        return R.mean(loss)
    if reduction == "sum":
        return R.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_labels(target, num_classes, ignore_index, op):
    labels = target.data if hasattr(target, "grad") else target
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integer class indices, got dtype {labels.dtype}")
    valid = labels != ignore_index
    xp = get_array_module(labels)
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        first = int(labels[bad].reshape(-1)[0])
        position = tuple(int(i[0]) for i in xp.nonzero(bad))
        raise IndexError(f"{op}: label {first} at position {position} is out of range for {num_classes} classes")
    return labels


class NllFunction(Function):
    """Weighted negative log likelihood of class labels along axis 1, with ignored positions."""

    @staticmethod
    def forward(ctx, logp, labels, weight, ignore_index, smoothing, reduction):
        xp = get_array_module(logp)
        classes = logp.shape[1]
        valid = labels != ignore_index
        safe = xp.where(valid, labels, 0)
        picked = xp.take_along_axis(logp, xp.expand_dims(safe, 1), axis=1).squeeze(1)
        w = xp.ones(classes, logp.dtype) if weight is None else weight.astype(logp.dtype, copy=False)
        w_label = w[safe] * valid
        per_sample = -picked * w_label
        if smoothing:
            # the smoothed target puts smoothing / C on every class, weighted by each class's weight
            w_b = w.reshape((1, -1) + (1,) * (logp.ndim - 2))
            uniform = -(logp * w_b).sum(axis=1) * valid
            per_sample = (1 - smoothing) * per_sample + (smoothing / classes) * uniform
        if reduction == "mean":
            norm = w_label.sum()
            loss = per_sample.sum() / norm
        elif reduction == "sum":
            norm, loss = None, per_sample.sum()
        else:
            norm, loss = None, per_sample
        ctx.save_for_backward(safe, w_label)
        ctx.shape, ctx.classes, ctx.w, ctx.valid = logp.shape, classes, w, valid
        ctx.smoothing, ctx.reduction, ctx.norm = smoothing, reduction, norm
        return loss

    @staticmethod
    def backward(ctx, gy):
        safe, w_label = ctx.saved_tensors
        xp = get_array_module(gy)
        if ctx.reduction == "mean":
            scale = gy / ctx.norm
        else:
            scale = gy
        scale = xp.asarray(scale)
        if scale.ndim:
            scale = xp.expand_dims(scale, 1)
        g = xp.zeros(ctx.shape, w_label.dtype)
        xp.put_along_axis(g, xp.expand_dims(safe, 1), xp.expand_dims(-w_label * (1 - ctx.smoothing), 1), axis=1)
        if ctx.smoothing:
            w_b = ctx.w.reshape((1, -1) + (1,) * (len(ctx.shape) - 2))
            g -= (ctx.smoothing / ctx.classes) * w_b * xp.expand_dims(ctx.valid, 1)
        return g * scale, None, None, None, None, None


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log likelihood of integer ``target`` under ``log_probs`` (N, C) or (N, C, d1, ...)."""
    return _nll(log_probs, target, weight, ignore_index, 0.0, reduction, "nll_loss")


def _nll(log_probs, target, weight, ignore_index, smoothing, reduction, op):
    if log_probs.ndim < 1:
        raise ValueError(f"{op}: expected (N, C) or (N, C, d1, ...) scores, got shape {tuple(log_probs.shape)}")
    if log_probs.ndim == 1:
        log_probs = log_probs.reshape(1, -1)
        target = target.reshape(1) if hasattr(target, "reshape") else target
    expected = (log_probs.shape[0],) + tuple(log_probs.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: scores of shape {tuple(log_probs.shape)} need labels of shape {expected}, "
                         f"got {tuple(target.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    labels = _check_labels(target, log_probs.shape[1], ignore_index, op)
    w = None if weight is None else (weight.data if hasattr(weight, "grad") else weight)
    return NllFunction.apply(log_probs, labels, w, ignore_index, smoothing, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits (N, C) or (N, C, d1, ...) against integer class labels."""
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    axis = 1 if input.ndim > 1 else 0
    return _nll(R.log_softmax(input, axis), target, weight, ignore_index, label_smoothing, reduction,
                "cross_entropy")


def _check_same_shape(x, y, op):
    if tuple(x.shape) != tuple(getattr(y, "shape", ())):
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} and target of shape "
                         f"{tuple(getattr(y, 'shape', ()))} differ")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error."""
    _check_same_shape(input, target, "mse_loss")
    d = E.sub(input, target)
    return _reduce(E.mul(d, d), reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error."""
    _check_same_shape(input, target, "l1_loss")
    return _reduce(E.abs(E.sub(input, target)), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Quadratic for errors below ``delta``, linear above."""
    _check_same_shape(input, target, "huber_loss")
    d = E.abs(E.sub(input, target))
    quadratic = E.minimum(d, delta)
    linear = E.sub(d, quadratic)
    return _reduce(E.add(E.mul(0.5, E.mul(quadratic, quadratic)), E.mul(delta, linear)), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross entropy on logits, computed as ``max(x, 0) - x y + log(1 + exp(-|x|))`` (no overflow)."""
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    softplus_neg = E.add(E.relu(E.neg(input)), E.log1p(E.exp(E.neg(E.abs(input)))))  # log(1 + exp(-x))
    if pos_weight is None:
        loss = E.add(E.mul(E.sub(1, target), input), softplus_neg)
    else:
        log_weight = E.add(1, E.mul(E.sub(pos_weight, 1), target))
        loss = E.add(E.mul(E.sub(1, target), input), E.mul(log_weight, softplus_neg))
    if weight is not None:
        loss = E.mul(loss, weight)
    return _reduce(loss, reduction)
