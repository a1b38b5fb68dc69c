"""Losses with PyTorch's arguments: cross entropy (labels or probabilities), negative log likelihood, MSE, L1,
binary cross entropy (on probabilities or logits), Huber, smooth L1, Kullback-Leibler divergence."""
import math

from ...backend import get_array_module
from ...ops import elementwise as E, reduction as R
from ...amp.autocast_mode import float32_op
from ._grad_paths import KeepsIntermediates, constant, namespace_of, recording


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


class NllFunction(KeepsIntermediates):
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
        ctx.keep(safe, w_label)
        ctx.shape, ctx.classes, ctx.w, ctx.valid = logp.shape, classes, w, valid
        ctx.smoothing, ctx.reduction, ctx.norm = smoothing, reduction, norm
        return loss

    @staticmethod
    def backward(ctx, gy):
        # the loss is linear in logp: its gradient is a constant array (from the labels and weights) times gy
        safe, w_label = ctx.intermediates
        xp = get_array_module(w_label)
        scale = gy
        if ctx.reduction == "mean":  # a recorded gradient multiplies by a constant, the fast path divides as before
            scale = gy * constant(namespace_of(gy), 1 / ctx.norm) if recording(namespace_of(gy)) else gy / ctx.norm
        if scale.ndim:
            scale = scale.reshape(scale.shape[:1] + (1,) + scale.shape[1:])
        g = xp.zeros(ctx.shape, w_label.dtype)
        xp.put_along_axis(g, xp.expand_dims(safe, 1), xp.expand_dims(-w_label * (1 - ctx.smoothing), 1), axis=1)
        if ctx.smoothing:
            w_b = ctx.w.reshape((1, -1) + (1,) * (len(ctx.shape) - 2))
            g -= (ctx.smoothing / ctx.classes) * w_b * xp.expand_dims(ctx.valid, 1)
        return scale * constant(namespace_of(scale), g), None, None, None, None, None


class LabelCrossEntropy(KeepsIntermediates):
    """Cross entropy of logits (N, C) against class labels, unweighted and unsmoothed: log-softmax and the pick
    as one node, whose gradient is ``softmax(x) - onehot`` times the output gradient."""

    @staticmethod
    def forward(ctx, x, labels, valid, reduction):
        xp = get_array_module(x)
        rows = xp.arange(x.shape[0])
        safe = labels if valid is None else xp.where(valid, labels, 0)
        logp = x - x.max(axis=1, keepdims=True)
        logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
        per_sample = -logp[rows, safe]
        if valid is not None:  # where, not a product: an ignored row's pick may be -inf, and inf * 0 is NaN
            per_sample = xp.where(valid, per_sample, 0)
        count = x.shape[0] if valid is None else int(valid.sum())
        if reduction == "mean":  # every label ignored: NaN, as PyTorch
            loss = per_sample.sum() / count if count else per_sample.sum() * math.nan
        else:
            loss = per_sample.sum() if reduction == "sum" else per_sample
        ctx.save_for_backward(x)
        ctx.keep(logp)
        ctx.rows, ctx.safe, ctx.valid, ctx.reduction, ctx.count = rows, safe, valid, reduction, count
        return loss

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        xp = namespace_of(gy, x)
        scale = gy
        if ctx.reduction == "mean":  # every label ignored: a zero gradient, as PyTorch's
            scale = gy / ctx.count if ctx.count else gy * 0.0
        if scale.ndim:
            scale = scale.reshape(-1, 1)
        if recording(xp):  # the kept log-probabilities are an intermediate: the recorded gradient starts from x
            onehot = get_array_module(ctx.safe).zeros(tuple(x.shape), x.dtype)
            onehot[ctx.rows, ctx.safe] = 1
            g = xp.softmax(x, axis=1) - constant(xp, onehot)
        else:
            g = xp.exp(ctx.intermediates[0])
            g[ctx.rows, ctx.safe] -= 1
        if ctx.valid is not None:
            g = g * constant(xp, ctx.valid[:, None])
        return g * scale, None, None, None


def _all_labels_valid(labels, num_classes, ignore_index):
    """True when every label names a class and none is ``ignore_index`` (two reductions, no masks; one read back
    to the host, which on a GPU is one synchronization)."""
    if not labels.size:
        return False
    valid = (labels.min() >= 0) & (labels.max() < num_classes)
    if 0 <= ignore_index < num_classes:
        valid = valid & ~(labels == ignore_index).any()
    return bool(valid)


@float32_op
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


@float32_op
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits (N, C) or (N, C, d1, ...) against integer class labels."""
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    axis = 1 if input.ndim > 1 else 0
    if getattr(target, "dtype", None) is not None and target.dtype.kind == "f" and target.shape == input.shape:
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing, axis)
    if weight is None and not label_smoothing and input.ndim == 2 and tuple(target.shape) == input.shape[:1] \
            and reduction in ("mean", "sum", "none"):
        labels = target.data if hasattr(target, "grad") else target
        if labels.dtype.kind in "iu":
            if _all_labels_valid(labels, input.shape[1], ignore_index):
                return LabelCrossEntropy.apply(input, labels, None, reduction)
            labels = _check_labels(labels, input.shape[1], ignore_index, "cross_entropy")
            return LabelCrossEntropy.apply(input, labels, labels != ignore_index, reduction)
    return _nll(R.log_softmax(input, axis), target, weight, ignore_index, label_smoothing, reduction,
                "cross_entropy")


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing, axis):
    """Cross entropy against class probabilities of the input's shape (PyTorch's float targets)."""
    _check_same_shape(input, target, "cross_entropy")
    classes = input.shape[axis]
    if label_smoothing:
        target = E.add(E.mul(target, 1 - label_smoothing), label_smoothing / classes)
    terms = E.mul(R.log_softmax(input, axis), target)
    if weight is not None:
        terms = E.mul(terms, weight.reshape((-1,) + (1,) * (input.ndim - axis - 1)))
    loss = E.neg(R.sum(terms, axis))
    if reduction == "mean":  # over the batch and positions, not divided by weights, as PyTorch
        return R.mean(loss)
    return _reduce(loss, reduction)


def _check_same_shape(x, y, op):
    if tuple(x.shape) != tuple(getattr(y, "shape", ())):
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} and target of shape "
                         f"{tuple(getattr(y, 'shape', ()))} differ")


@float32_op
def mse_loss(input, target, reduction="mean"):
    """Mean squared error."""
    _check_same_shape(input, target, "mse_loss")
    d = E.sub(input, target)
    return _reduce(E.mul(d, d), reduction)


@float32_op
def l1_loss(input, target, reduction="mean"):
    """Mean absolute error."""
    _check_same_shape(input, target, "l1_loss")
    return _reduce(E.abs(E.sub(input, target)), reduction)


@float32_op
def huber_loss(input, target, reduction="mean", delta=1.0):
    """Quadratic for errors below ``delta``, linear above."""
    _check_same_shape(input, target, "huber_loss")
    d = E.abs(E.sub(input, target))
    quadratic = E.minimum(d, delta)
    linear = E.sub(d, quadratic)
    return _reduce(E.add(E.mul(0.5, E.mul(quadratic, quadratic)), E.mul(delta, linear)), reduction)


@float32_op
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


@float32_op
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross entropy of probabilities ``input`` in [0, 1]; each log is clamped at -100, as PyTorch's."""
    _check_same_shape(input, target, "binary_cross_entropy")
    data = input.data
    if data.size and (bool((data < 0).any()) or bool((data > 1).any())):
        raise ValueError(f"binary_cross_entropy: input values must lie in [0, 1] (probabilities), got values from "
                         f"{float(data.min()):.4g} to {float(data.max()):.4g}; for logits use "
                         f"binary_cross_entropy_with_logits (BCEWithLogitsLoss)")
    with _quiet():
        log_p = E.clip(E.log(input), -100.0, None)
        log_q = E.clip(E.log1p(E.neg(input)), -100.0, None)
    loss = E.neg(E.add(E.mul(target, log_p), E.mul(E.sub(1, target), log_q)))
    if weight is not None:
        loss = E.mul(loss, weight)
    return _reduce(loss, reduction)


def _quiet():
    import numpy as np
    return np.errstate(divide="ignore")


@float32_op
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``0.5 d**2 / beta`` for errors ``d`` below ``beta``, ``|d| - 0.5 beta`` above (the L1 loss when beta is 0)."""
    _check_same_shape(input, target, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    d = E.abs(E.sub(input, target))
    quadratic = E.minimum(d, beta)
    loss = E.add(E.mul(0.5 / beta, E.mul(quadratic, quadratic)), E.sub(d, quadratic))
    return _reduce(loss, reduction)


@float32_op
def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence ``target * (log target - input)`` with ``input`` log-probabilities; PyTorch's
    ``reduction="batchmean"`` divides the sum by the batch size (the true KL divergence), ``"mean"`` by the number
    of elements."""
    _check_same_shape(input, target, "kl_div")
    if log_target:
        loss = E.mul(E.exp(target), E.sub(target, input))
    else:
        # target log target is 0 where target is 0 (xlogy), so those terms pass no gradient to the input either
        positive = E.greater(target, 0)
        safe = E.where(positive, target, 1.0)
        loss = E.where(positive, E.mul(target, E.sub(E.log(safe), input)), 0.0)
    if reduction == "batchmean":
        return E.div(R.sum(loss), input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)
