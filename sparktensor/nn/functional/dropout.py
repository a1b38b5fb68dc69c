"""``dropout``: zero elements with probability ``p`` during training and rescale the rest."""
from ...autograd.function import Function
from ... import random as st_random


class DropoutFunction(Function):
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, gy):
        mask, = ctx.saved_tensors
        return gy * mask, None


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability ``p`` and scale the others by ``1 / (1 - p)``; identity when not training."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    stream = (generator or st_random.default_generator).stream(x.device)
    keep = stream.random(x.shape, dtype="float32" if x.dtype.itemsize <= 4 else "float64") >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return DropoutFunction.apply(x, keep.astype(x.dtype) * scale)
