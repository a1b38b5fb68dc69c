"""``ctc_loss``: connectionist temporal classification, the forward (alpha) and backward (beta) recursions in log
space over the targets with a blank before, between and after their labels.

The gradient is the true derivative of the loss with respect to ``log_probs``: minus the posterior of each
(step, class). PyTorch returns that plus ``exp(log_probs)`` on the steps inside each input length, the gradient
with respect to the logits *through a log_softmax*. The two agree once a ``log_softmax`` produced
``log_probs`` (its backward removes the extra term), which is how CTC is used; they differ on other inputs.
"""
import functools

import numpy as np

from ...autograd.function import Function
from ...backend import get_array_module
from ...ops import elementwise as E, reduction as R
from ...amp.autocast_mode import float32_op
from ...tensor import Tensor
from ...ops.elementwise import where
from ...ops.shape import concatenate, stack
from ._grad_paths import RecomputedGradient, namespace_of, recording


def _shift(xp, a, by):
    """``a`` moved ``by`` places along its last axis, -inf shifted in."""
    out = xp.full_like(a, -xp.inf)
    out[..., by:] = a[..., :a.shape[-1] - by]
    return out


def _unshift(xp, a, by):
    out = xp.full_like(a, -xp.inf)
    out[..., :a.shape[-1] - by] = a[..., by:]
    return out


def _log_alpha(xp, emit, skip):
    """alpha[t, n, s]: log probability of the paths through extended label s at step t, step t's emission included."""
    alpha = xp.full_like(emit, -xp.inf)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, len(emit)):
        prev = alpha[t - 1]
        two_back = xp.where(skip, _shift(xp, prev, 2), -xp.inf)
        alpha[t] = xp.logaddexp(xp.logaddexp(prev, _shift(xp, prev, 1)), two_back) + emit[t]
    return alpha


def _log_beta(xp, emit, skip, input_lengths, last):
    """beta[t, n, s]: log probability of finishing from extended label s at step t, step t's emission included."""
    steps, n = emit.shape[:2]
    beta = xp.full_like(emit, -xp.inf)
    batch = xp.arange(n)
    start = xp.full(emit.shape[1:], -xp.inf, emit.dtype)
    start[batch, last] = 0
    start[batch, xp.maximum(last - 1, 0)] = 0
    skip_from = _unshift(xp, skip, 2)   # s -> s + 2 is allowed where s + 2 may skip back to s
    after = xp.full(emit.shape[1:], -xp.inf, emit.dtype)
    for t in range(steps - 1, -1, -1):
        onward = xp.logaddexp(xp.logaddexp(after, _unshift(xp, after, 1)),
                              xp.where(skip_from, _unshift(xp, after, 2), -xp.inf))
        onward = xp.where((input_lengths - 1 == t)[:, None], start, onward)
        beta[t] = xp.where((t < input_lengths)[:, None], onward + emit[t], -xp.inf)
        after = beta[t]
    return beta


class CTCFunction(Function):
    """Per-sample negative log likelihoods (N,) of (T, N, C) log probabilities for the extended targets (N, 2S+1).

    A recorded gradient (``create_graph``) is that of ``_ctc_graph``, the alpha recursion written with ops."""

    @staticmethod
    def forward(ctx, log_probs, extended, input_lengths, target_lengths, zero_infinity):
        xp = get_array_module(log_probs)
        steps, n, _ = log_probs.shape
        emit = xp.take_along_axis(log_probs, xp.broadcast_to(extended, (steps,) + extended.shape), axis=2)
        # s - 2 -> s skips a blank, allowed where label s is not the blank and differs from label s - 2
        skip = xp.zeros(extended.shape, bool)
        skip[:, 2:] = (extended[:, 2:] != extended[:, :1]) & (extended[:, 2:] != extended[:, :-2])
        alpha = _log_alpha(xp, emit, skip)
        last = 2 * target_lengths
        final = alpha[xp.maximum(input_lengths - 1, 0), xp.arange(n)]
        end = xp.take_along_axis(final, last[:, None], 1)[:, 0]
        before_end = xp.where(last > 0, xp.take_along_axis(final, xp.maximum(last - 1, 0)[:, None], 1)[:, 0], -xp.inf)
        nll = -xp.logaddexp(end, before_end)
        nll = xp.where(input_lengths == 0, xp.where(target_lengths == 0, 0, xp.inf), nll)
        impossible = xp.isinf(nll)
        if zero_infinity:
            nll = xp.where(impossible, 0, nll)
        ctx.save_for_backward(log_probs)
        ctx.args = emit, skip, alpha, extended, input_lengths, last, xp.where(impossible, 0, nll), impossible
        return nll.astype(log_probs.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        log_probs, = ctx.saved_tensors
        emit, skip, alpha, extended, input_lengths, last, nll, impossible = ctx.args
        if recording(namespace_of(gy)):
            graph = functools.partial(_ctc_graph, skip=skip, extended=extended, input_lengths=input_lengths,
                                      last=last, impossible=impossible)
            return RecomputedGradient.apply(graph, 1, log_probs, gy)[0], None, None, None, None
        xp = get_array_module(gy)
        beta = _log_beta(xp, emit, skip, input_lengths, last)
        # the posterior of each extended label at each step; an impossible target has none and gets no gradient
        posterior = xp.exp(alpha + beta - emit + nll[:, None])
        posterior[:, impossible] = 0
        g = xp.zeros(log_probs.shape, log_probs.dtype)
        steps, n, width = emit.shape
        t, b, _ = xp.meshgrid(xp.arange(steps), xp.arange(n), xp.arange(width), indexing="ij")
        xp.add.at(g, (t, b, xp.broadcast_to(extended, emit.shape)), -posterior * gy[:, None])
        return g, None, None, None, None


def _ctc_graph(log_probs, skip, extended, input_lengths, last, impossible):
    """The per-sample CTC losses from differentiable ops: the alpha recursion over the steps, each log-sum-exp
    shifted by a constant so that the unreachable (-inf) states pass no nan gradient. Impossible targets and
    empty inputs give a constant."""
    xp = get_array_module(extended)
    steps, n, classes = log_probs.shape
    width = extended.shape[1]
    emit = log_probs.reshape(steps, n * classes)[:, (xp.arange(n)[:, None] * classes + extended).reshape(-1)]
    emit = emit.reshape(steps, n, width)
    unreachable = Tensor(xp.full((n, width), -xp.inf, log_probs.dtype))
    first = xp.arange(width) < 2
    alphas = [where(Tensor(first), emit[0], unreachable)]
    for t in range(1, steps):
        prev = alphas[-1]
        one_back = concatenate([unreachable[:, :1], prev[:, :-1]], axis=1)
        two_back = where(Tensor(skip), concatenate([unreachable[:, :2], prev[:, :-2]], axis=1), unreachable)
        alphas.append(_log_sum_exp(xp, (prev, one_back, two_back)) + emit[t])
    final = stack(alphas).reshape(steps * n, width)[xp.maximum(input_lengths - 1, 0) * n + xp.arange(n)]
    flat = final.reshape(-1)
    rows = xp.arange(n) * width
    before_end = where(Tensor(last > 0), flat[rows + xp.maximum(last - 1, 0)], unreachable[:, 0])
    nll = -_log_sum_exp(xp, (flat[rows + last], before_end))
    return where(Tensor(impossible | (input_lengths == 0)), Tensor(xp.zeros(n, log_probs.dtype)), nll)


def _log_sum_exp(xp, terms):
    """``log(sum(exp(terms)))`` shifted by the (constant) largest term; -inf where every term is -inf."""
    top = terms[0].data
    for term in terms[1:]:
        top = xp.maximum(top, term.data)
    finite = xp.isfinite(top)
    shift = Tensor(xp.where(finite, top, 0))
    total = sum(E.exp(term - shift) for term in terms[1:]) + E.exp(terms[0] - shift)
    return where(Tensor(finite), shift + E.log(where(Tensor(finite), total, 1.0)), -xp.inf)


def _lengths(v, n, name):
    a = np.asarray(v.numpy() if hasattr(v, "numpy") else v).reshape(-1)
    if a.dtype.kind not in "iu" or a.shape != (n,):
        raise ValueError(f"ctc_loss: {name} must be {n} integers (one per sequence), got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


def _padded_targets(targets, target_lengths, n):
    """(N, S) targets from the padded (N, S) or concatenated (sum of target_lengths,) form."""
    if targets.ndim == 2:
        if targets.shape[0] != n or (target_lengths > targets.shape[1]).any():
            raise ValueError(f"ctc_loss: padded targets {targets.shape} need {n} rows at least as long as "
                             f"target_lengths {target_lengths.tolist()}")
        return targets
    if targets.ndim != 1 or len(targets) != target_lengths.sum():
        raise ValueError(f"ctc_loss: targets {targets.shape} must be (N, S) or 1-d with sum(target_lengths) = "
                         f"{target_lengths.sum()} labels")
    out = np.zeros((n, max(target_lengths.max(initial=0), 1)), np.int64)
    starts = np.cumsum(target_lengths) - target_lengths
    for i, (s, k) in enumerate(zip(starts, target_lengths)):
        out[i, :k] = targets[s:s + k]
    return out


@float32_op
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """The CTC loss of (T, N, C) (or unbatched (T, C)) log probabilities, as PyTorch's ``ctc_loss``.

    Targets are padded (N, S) or concatenated; ``reduction="mean"`` divides each loss by its target length
    before averaging over the batch. ``zero_infinity`` turns the infinite loss of a target that cannot fit its
    input (and its gradient) into zero. See the module docstring for how the gradient relates to PyTorch's.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"ctc_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = log_probs.unsqueeze(1), targets.reshape(1, -1) if targets.ndim == 1 else targets
    if log_probs.ndim != 3 or log_probs.dtype.kind != "f":
        raise ValueError(f"ctc_loss: log_probs must be floating (T, N, C) or (T, C), got {log_probs.dtype} "
                         f"{tuple(log_probs.shape)}")
    steps, n, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise ValueError(f"ctc_loss: blank {blank} is not one of the {classes} classes")
    input_lengths, target_lengths = _lengths(input_lengths, n, "input_lengths"), _lengths(target_lengths, n,
                                                                                         "target_lengths")
    if (input_lengths < 0).any() or (input_lengths > steps).any() or (target_lengths < 0).any():
        raise ValueError(f"ctc_loss: input_lengths {input_lengths.tolist()} must lie in [0, {steps}] and "
                         f"target_lengths {target_lengths.tolist()} be non-negative")
    labels = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets)
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError(f"ctc_loss: targets must be integer class labels, got {labels.dtype}")
    labels = _padded_targets(labels.astype(np.int64), target_lengths, n)
    used = np.arange(labels.shape[1]) < target_lengths[:, None]
    if ((labels < 0) | (labels >= classes) | (labels == blank))[used].any():
        raise ValueError(f"ctc_loss: targets must be classes in [0, {classes}) other than the blank {blank}")
    extended = np.full((n, 2 * labels.shape[1] + 1), blank, np.int64)
    extended[:, 1::2] = np.where(used, labels, blank)
    xp = get_array_module(log_probs.data)
    loss = CTCFunction.apply(log_probs, xp.asarray(extended), xp.asarray(input_lengths), xp.asarray(target_lengths),
                             bool(zero_infinity))
    if reduction == "mean":
        # a Tensor divisor: an input of the division, so the loss's gradient can itself be recorded
        return R.mean(E.div(loss, Tensor(xp.asarray(np.maximum(target_lengths, 1).astype(log_probs.dtype)))))
    if reduction == "sum":
        return R.sum(loss)
    return loss.reshape(()) if unbatched else loss
