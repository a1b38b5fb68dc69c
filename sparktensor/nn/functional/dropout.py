"""``dropout``: zero elements with probability ``p`` during training and rescale the rest."""
import warnings

from ._grad_paths import KeepsIntermediates, constant, namespace_of
from ... import random as st_random
from ...ops._grad_utils import sum_to


class DropoutFunction(KeepsIntermediates):
    @staticmethod
    def forward(ctx, x, mask):
        ctx.keep(mask)  # a constant of the gradient
        ctx.shape = x.shape
        return x * mask

    @staticmethod
    def backward(ctx, gy):
        mask, = ctx.intermediates
        return sum_to(gy * constant(namespace_of(gy), mask), ctx.shape), None


def dropout(x, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability ``p`` and scale the others by ``1 / (1 - p)``; identity when not training.
    ``inplace=True`` overwrites ``x``, as PyTorch's."""
    return _dropout(x, p, training, inplace, generator, x.shape, "dropout")


def _dropout(x, p, training, inplace, generator, mask_shape, name):
    if not 0 <= p <= 1:
        raise ValueError(f"{name} probability must be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    stream = (generator or st_random.default_generator).stream(x.device)
    keep = stream.random(mask_shape, dtype="float32" if x.dtype.itemsize <= 4 else "float64") >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    mask = keep.astype(x.dtype) * scale
    if inplace:
        return x._update(name + "_", lambda t: DropoutFunction.apply(t, mask))
    return DropoutFunction.apply(x, mask)


def dropout1d(x, p=0.5, training=True, inplace=False, generator=None):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``, scaling the rest by ``1 / (1 - p)``."""
    if x.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {x.shape}")
    return _dropout(x, p, training, inplace, generator, x.shape[:-1] + (1,), "dropout1d")


def dropout2d(x, p=0.5, training=True, inplace=False, generator=None):
    """Zero whole channels of (N, C, H, W) with probability ``p``, scaling the rest by ``1 / (1 - p)``.

    A 3-D input is read as PyTorch 2 reads it: (N, C, L), channels of one dimension, with a warning (an unbatched
    (C, H, W) image wants ``x[None]``; ``dropout1d`` says (N, C, L) without one)."""
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D (N, C, H, W) input (or 3-D (N, C, L)), got shape {x.shape}")
    if x.ndim == 3:
        warnings.warn("dropout2d of a 3-D input: its channels are taken as (N, C, L), as PyTorch does; for an "
                      "unbatched (C, H, W) image pass x[None], for (N, C, L) call dropout1d", UserWarning, stacklevel=2)
        return _dropout(x, p, training, inplace, generator, x.shape[:-1] + (1,), "dropout2d")
    return _dropout(x, p, training, inplace, generator, x.shape[:-2] + (1, 1), "dropout2d")
