"""``CosineSimilarity`` and ``PairwiseDistance``."""
from ..functional.distance import cosine_similarity, pairwise_distance
from .module import Module


class CosineSimilarity(Module):
    """Cosine similarity of two inputs along ``dim``.

    Args:
        dim: the axis of the vectors.
        eps: the smallest norm divided by.

    Shape:
        x1 and x2 broadcastable; output their broadcast shape without ``dim``.
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm distance of ``x1 - x2 + eps`` along the last axis.

    Args:
        p: the norm's order.
        eps: added to the difference.
        keepdim: keep the last axis (size 1).

    Shape:
        x1 and x2 (N, D) or (D,); output (N,) or ().
    """

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
