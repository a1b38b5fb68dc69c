"""``embedding``: rows of a weight matrix picked by integer indices."""
from ...autograd.function import Function
from ...backend import get_array_module
from ._grad_paths import constant, namespace_of, raw, run


class EmbeddingFunction(Function):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        ctx.save_for_backward(indices)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, gy):
        indices = raw(ctx.saved_tensors[0])
        return None, run(EmbeddingGradient, namespace_of(gy), gy, indices, ctx.shape, ctx.padding_idx), None


class EmbeddingGradient(Function):
    """The rows of ``gy`` added into a weight-shaped gradient at ``indices``; its adjoint picks them back out."""

    @staticmethod
    def forward(ctx, gy, indices, shape, padding_idx):
        ctx.indices, ctx.padding_idx = indices, padding_idx
        xp = get_array_module(gy)
        gw = xp.zeros(shape, gy.dtype)
        # repeated indices add up
        xp.add.at(gw, indices.reshape(-1), gy.reshape(-1, shape[1]))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return gw

    @staticmethod
    def backward(ctx, ggw):
        indices, padding_idx = ctx.indices, ctx.padding_idx
        ggy = ggw[indices]
        if padding_idx is not None:
            ggy = ggy * constant(namespace_of(ggw), (indices != padding_idx)[..., None].astype(ggy.dtype))
        return ggy, None, None, None


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
