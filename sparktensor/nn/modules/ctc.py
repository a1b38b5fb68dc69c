"""``CTCLoss``."""
from ..functional.ctc import ctc_loss
from .loss import _Loss


class CTCLoss(_Loss):
    """Connectionist temporal classification loss over all alignments of each target with its input.

    Args:
        blank: the class index of the blank.
        reduction: ``"mean"`` (each loss divided by its target length, then averaged), ``"sum"`` or ``"none"``.
        zero_infinity: make the infinite loss of a target too long for its input, and its gradient, zero.

    Shape:
        log_probs (T, N, C) or (T, C) (a ``log_softmax`` over C); targets (N, S) padded or concatenated
        (sum(target_lengths),); input_lengths and target_lengths (N,). Output a scalar, or (N,) with ``"none"``.
    """

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)

    def extra_repr(self):
        return ", ".join(filter(None, [f"blank={self.blank}" if self.blank else "", super().extra_repr(),
                                       "zero_infinity=True" if self.zero_infinity else ""]))
