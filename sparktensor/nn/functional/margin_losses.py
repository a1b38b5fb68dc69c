"""Margin and embedding losses with PyTorch's arguments: ``margin_ranking_loss``, ``hinge_embedding_loss``,
``soft_margin_loss``, ``cosine_embedding_loss``, ``triplet_margin_loss``, ``multilabel_soft_margin_loss``,
``multi_margin_loss``. Each is built from differentiable ops, term for term as PyTorch computes it."""
from ...backend import get_array_module
from ...ops import elementwise as E, reduction as R, selection as P
from ...tensor import Tensor
from .distance import pairwise_distance
from .loss import _reduce
from .smooth_activations import logsigmoid

__all__ = ["margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "cosine_embedding_loss",
           "triplet_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss"]


def _hinge(x):
    return E.relu(x)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 wants ``input1`` ranked higher, -1 lower."""
    return _reduce(_hinge(E.add(E.mul(E.neg(target), E.sub(input1, input2)), margin)), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """``input`` where ``target`` is 1, ``max(0, margin - input)`` where it is -1 (``input`` is a distance)."""
    zeros = E.mul(input, 0.0)
    loss = E.add(E.where(E.not_equal(target, 1), _hinge(E.sub(margin, input)), zeros),
                 E.where(E.not_equal(target, -1), input, zeros))
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """``log(1 + exp(-target * input))``, the logistic loss of labels -1 and 1."""
    return _reduce(E.neg(logsigmoid(E.mul(target, input))), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """``1 - cos(input1, input2)`` where ``target`` is 1, ``max(0, cos - margin)`` where it is -1; the cosine
    along the last dimension (each norm squared plus 1e-12, as PyTorch's)."""
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise ValueError(f"cosine_embedding_loss: inputs must be two (N, D) or (D) tensors of one shape, got "
                         f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    dim = input1.ndim - 1
    products = R.sum(E.mul(input1, input2), dim)
    squares = E.mul(E.add(R.sum(E.mul(input1, input1), dim), 1e-12), E.add(R.sum(E.mul(input2, input2), dim), 1e-12))
    cos = E.div(products, E.sqrt(squares))
    zeros = E.mul(cos, 0.0)
    loss = E.add(E.where(E.equal(target, 1), E.sub(1.0, cos), zeros),
                 E.where(E.equal(target, -1), _hinge(E.sub(cos, margin)), zeros))
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """``max(0, d(anchor, positive) - d(anchor, negative) + margin)`` with the p-norm distance of
    ``pairwise_distance``; ``swap`` takes the nearer of the negative's distances to anchor and positive."""
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"triplet_margin_loss: anchor, positive and negative need one number of dimensions, got "
                         f"shapes {tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}")
    near = pairwise_distance(anchor, positive, p, eps)
    far = pairwise_distance(anchor, negative, p, eps)
    if swap:
        far = E.minimum(far, pairwise_distance(positive, negative, p, eps))
    return _reduce(_hinge(E.add(E.sub(near, far), margin)), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """The binary logistic loss of each class, averaged over the classes (the last dimension)."""
    loss = E.neg(E.add(E.mul(target, logsigmoid(input)), E.mul(E.sub(1.0, target), logsigmoid(E.neg(input)))))
    if weight is not None:
        loss = E.mul(loss, weight)
    classes = input.shape[-1]
    return _reduce(E.div(R.sum(loss, input.ndim - 1), classes), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """``sum over i != y of max(0, margin - x[y] + x[i]) ** p / C`` for each row ``x`` of (N, C) scores (or one (C)
    row) and its label ``y``; ``weight[y]`` scales the row's terms."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multi_margin_loss: input must be (N, C) or (C), got shape {tuple(input.shape)}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    labels = target if isinstance(target, Tensor) else Tensor(get_array_module(x.data).asarray(target))
    labels = labels.reshape(-1, 1)
    chosen = P.gather(x, 1, labels)
    terms = _hinge(E.add(E.sub(margin, chosen), x))
    if p == 2:
        terms = E.mul(terms, terms)
    if weight is not None:
        terms = E.mul(terms, P.index_select(weight, 0, labels.reshape(-1)).reshape(-1, 1))
    xp = get_array_module(x.data)
    own = xp.arange(x.shape[1])[None, :] == labels.data  # the label's own term is left out
    loss = E.div(R.sum(E.where(own, 0.0, terms), 1), x.shape[1])
    if input.ndim == 1:  # one row: the loss has the label's shape, () or (1,), as PyTorch's
        loss = loss.reshape(() if getattr(target, "ndim", 0) == 0 else (1,))
    return _reduce(loss, reduction)
