"""``embedding``: rows of a weight matrix picked by integer indices."""
from ...autograd.function import Function
from ...backend import get_array_module


class EmbeddingFunction(Function):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        ctx.save_for_backward(indices)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, gy):
        indices, = ctx.saved_tensors
        xp = get_array_module(gy)
        gw = xp.zeros(ctx.shape, gy.dtype)
        # repeated indices add up
        xp.add.at(gw, indices.reshape(-1), gy.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return None, gw, None


def embedding(indices, weight, padding_idx=None):
    """``weight[indices]``; the row at ``padding_idx`` gets no gradient."""
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {indices.dtype}")
    n = weight.shape[0]
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= n:
            raise IndexError(f"embedding: index {high if high >= n else low} is out of range for {n} embeddings")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    return EmbeddingFunction.apply(indices, weight, padding_idx)
