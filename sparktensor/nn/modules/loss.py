"""Loss layers with PyTorch's names and arguments: thin wrappers over ``nn.functional``'s losses.

``weight`` and ``pos_weight`` are buffers, as in PyTorch, so they move with ``.to()`` and appear in the state dict.
"""
from ..functional import loss as L
from .module import Module


def _reduction(size_average, reduce, reduction, name):
    """PyTorch's deprecated ``size_average``/``reduce`` pair, read as PyTorch reads it."""
    if size_average is None and reduce is None:
        return reduction
    if reduction != "mean":
        raise ValueError(f"{name}: give reduction= or the deprecated size_average=/reduce=, not both")
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _reduction(size_average, reduce, reduction, type(self).__name__)
        if self.reduction not in self._reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {', '.join(map(repr, self._reductions))},"
                             f" got {self.reduction!r}")

    _reductions = ("mean", "sum", "none")

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy of logits against class labels (or class probabilities of the input's shape).

    Args:
        weight: a rescaling weight per class, shape (C,).
        ignore_index: a label whose positions add nothing (and are left out of the mean).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: the share of the target spread evenly over the classes, in [0, 1].

    Shape:
        input (N, C) or (N, C, d1, ...) or (C,); target (N,) or (N, d1, ...) labels, or probabilities like input.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return L.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of class labels under log-probabilities (the output of ``LogSoftmax``).

    Args:
        weight: a rescaling weight per class, shape (C,).
        ignore_index: a label whose positions add nothing.
        reduction: ``"mean"`` (weighted by the picked classes' weights), ``"sum"`` or ``"none"``.

    Shape:
        input (N, C) or (N, C, d1, ...); target (N,) or (N, d1, ...).
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input and target of the same shape.
    """

    def forward(self, input, target):
        return L.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input and target of the same shape.
    """

    def forward(self, input, target):
        return L.l1_loss(input, target, self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities (the output of a sigmoid); each log is clamped at -100.

    Args:
        weight: a rescaling weight that broadcasts to the input.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input and target of the same shape, input in [0, 1].
    """

    def forward(self, input, target):
        return L.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross entropy of logits, a sigmoid and BCE in one step that does not overflow.

    Args:
        weight: a rescaling weight that broadcasts to the input.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: a weight of the positive examples per class (broadcast along the last axis).

    Shape:
        input and target of the same shape.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return L.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class HuberLoss(_Loss):
    """Quadratic for errors below ``delta``, linear (slope ``delta``) above.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        delta: where the quadratic part ends.

    Shape:
        input and target of the same shape.
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return L.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """Quadratic (divided by ``beta``) for errors below ``beta``, L1 above: ``HuberLoss(delta=beta) / beta``.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        beta: where the quadratic part ends (0 gives the L1 loss).

    Shape:
        input and target of the same shape.
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return L.smooth_l1_loss(input, target, self.reduction, self.beta)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of ``target`` from log-probabilities ``input``.

    Args:
        reduction: ``"batchmean"`` (the true divergence: the sum over the batch size), ``"mean"`` (over every
            element, as PyTorch's default), ``"sum"`` or ``"none"``.
        log_target: the target is given as log-probabilities.

    Shape:
        input and target of the same shape.
    """

    _reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return L.kl_div(input, target, self.reduction, self.log_target)
