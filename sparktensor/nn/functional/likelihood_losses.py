"""Negative log likelihoods with PyTorch's arguments: ``poisson_nll_loss`` and ``gaussian_nll_loss``."""
import math

from ...ops import elementwise as E
from .loss import _reduce

__all__ = ["poisson_nll_loss", "gaussian_nll_loss"]


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """The Poisson negative log likelihood of ``target`` counts: ``exp(input) - target * input`` for a log rate
    (``log_input``), ``input - target * log(input + eps)`` for a rate; ``full`` adds Stirling's term for
    ``log(target!)`` where ``target > 1``."""
    if size_average is not None or reduce is not None:
        raise TypeError("poisson_nll_loss: size_average= and reduce= are PyTorch's deprecated spellings; pass "
                        "reduction= ('mean', 'sum' or 'none')")
    if log_input:
        loss = E.sub(E.exp(input), E.mul(target, input))
    else:
        loss = E.sub(input, E.mul(target, E.log(E.add(input, eps))))
    if full:
        safe = E.where(E.greater(target, 1), target, 2.0)  # no log(0) where the term is left out
        stirling = E.add(E.sub(E.mul(target, E.log(safe)), target), E.mul(0.5, E.log(E.mul(2 * math.pi, safe))))
        loss = E.add(loss, E.where(E.greater(target, 1), stirling, 0.0))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``0.5 * (log(var) + (input - target) ** 2 / var)`` (plus ``0.5 * log(2 pi)`` with ``full``), ``var`` held
    at ``eps`` or above without that clamp taking part in the gradient, as PyTorch's. ``var`` has ``input``'s shape,
    or lacks (or has 1 as) its last dimension (one variance for all of it)."""
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.reshape(tuple(var.shape) + (1,))
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"gaussian_nll_loss: var of shape {tuple(var.shape)} fits neither input's shape "
                             f"{tuple(input.shape)} nor it without (or with 1 as) the last dimension")
    if bool((var.detach() < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    var = E.add(var, E.sub(E.maximum(var, eps), var).detach())
    d = E.sub(input, target)
    loss = E.mul(0.5, E.add(E.log(var), E.div(E.mul(d, d), var)))
    if full:
        loss = E.add(loss, 0.5 * math.log(2 * math.pi))
    return _reduce(loss, reduction)
