"""``cosine_similarity`` and ``pairwise_distance``."""
import numpy as np

from ...ops.elementwise import maximum
from ...ops.linalg import norm
from ...ops.shape import broadcast_to

__all__ = ["cosine_similarity", "pairwise_distance"]


def _clamped_norm(x, dim, eps):
    # PyTorch clamps the norm without recording the clamp: the gradient flows through the norm as if unclamped
    n = norm(x, 2, dim, keepdim=True)
    return n + (maximum(n, eps) - n).detach()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``<x1, x2> / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim``; the inputs broadcast first (an input of
    size 1 along ``dim`` counts as its value repeated, as in PyTorch)."""
    shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(axis=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``norm_p(x1 - x2 + eps)`` along the last axis."""
    return norm(x1 - x2 + eps, p, -1, keepdim=keepdim)
