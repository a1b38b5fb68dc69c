"""The margin, embedding and likelihood losses (``margin_ranking``, ``hinge_embedding``, ``soft_margin``,
``cosine_embedding``, ``triplet_margin``, ``multilabel_soft_margin``, ``multi_margin``, ``poisson_nll``,
``gaussian_nll``) and their layers, against PyTorch for every reduction (values and the gradients of every
differentiable input), with float64 gradient checks."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy

RNG = np.random.default_rng(5)
X1, X2, SIGNS = RNG.standard_normal(6), RNG.standard_normal(6), RNG.choice([-1.0, 1.0], 6)
A, B, C = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))
ROW_SIGNS, LABELS = RNG.choice([-1.0, 1.0], 5), RNG.integers(0, 4, 5)
MULTI_HOT, WEIGHT = (RNG.random((5, 4)) > 0.5).astype(float), RNG.random(4) + 0.5
COUNTS = RNG.poisson(2.0, (5, 4)).astype(float)
VAR = np.abs(RNG.standard_normal((5, 4))) + 0.05
VAR[0, 0] = 1e-9  # below eps: held at eps, the clamp outside the gradient

# name: (function name, keyword arguments, inputs, indices of the differentiable inputs)
CASES = {
    "margin_ranking": ("margin_ranking_loss", {"margin": 0.3}, [X1, X2, SIGNS], (0, 1)),
    "hinge_embedding": ("hinge_embedding_loss", {"margin": 0.7}, [X1, SIGNS], (0,)),
    "soft_margin": ("soft_margin_loss", {}, [X1 * 5, SIGNS], (0,)),
    "cosine_embedding": ("cosine_embedding_loss", {"margin": 0.2}, [A, B, ROW_SIGNS], (0, 1)),
    "triplet": ("triplet_margin_loss", {"margin": 0.5}, [A, B, C], (0, 1, 2)),
    "triplet_swap_p1": ("triplet_margin_loss", {"margin": 2.0, "p": 1.0, "swap": True}, [A, B, C], (0, 1, 2)),
    "multilabel_soft_margin": ("multilabel_soft_margin_loss", {}, [A, MULTI_HOT], (0,)),
    "multilabel_soft_margin_weight": ("multilabel_soft_margin_loss", {"weight": WEIGHT}, [A, MULTI_HOT], (0,)),
    "multi_margin": ("multi_margin_loss", {"margin": 0.8}, [A, LABELS], (0,)),
    "multi_margin_p2_weight": ("multi_margin_loss", {"p": 2, "weight": WEIGHT}, [A, LABELS], (0,)),
    "multi_margin_one_row": ("multi_margin_loss", {}, [A[0], np.array([2])], (0,)),
    "poisson_log_rate": ("poisson_nll_loss", {}, [A, COUNTS], (0,)),
    "poisson_rate_full": ("poisson_nll_loss", {"log_input": False, "full": True}, [np.abs(A) + 0.1, COUNTS], (0,)),
    "gaussian": ("gaussian_nll_loss", {}, [A, B, VAR], (0, 2)),
    "gaussian_full": ("gaussian_nll_loss", {"full": True}, [A, B, VAR], (0, 2)),
    "gaussian_one_variance_per_row": ("gaussian_nll_loss", {}, [A, B, VAR[:, 0]], (0, 2)),
    "gaussian_last_dim_one": ("gaussian_nll_loss", {}, [A, B, VAR[:, :1]], (0, 2)),
}


def tensors(lib, arrays, differentiable, device=None):
    make = (lambda a, g: st.tensor(a, device=device, requires_grad=g)) if lib is st else \
        (lambda a, g: torch.tensor(a, requires_grad=g))
    return [make(a, i in differentiable and a.dtype.kind == "f") for i, a in enumerate(arrays)]


def kwargs_for(lib, kwargs, device=None):
    return {k: (st.tensor(v, device=device) if lib is st else torch.tensor(v)) if isinstance(v, np.ndarray) else v
            for k, v in kwargs.items()}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(CASES))
def test_loss_matches_torch(device, name, reduction):
    function, kwargs, arrays, differentiable = CASES[name]
    ours, theirs = tensors(st, arrays, differentiable, device), tensors(torch, arrays, differentiable)
    y = getattr(F, function)(*ours, **kwargs_for(st, kwargs, device), reduction=reduction)
    ty = getattr(torch.nn.functional, function)(*theirs, **kwargs_for(torch, kwargs), reduction=reduction)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    for i in differentiable:
        np.testing.assert_allclose(to_numpy(ours[i].grad), theirs[i].grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_loss_gradcheck(device, name):
    function, kwargs, arrays, differentiable = CASES[name]
    if name.startswith("gaussian"):  # central differences of the variance away from the eps clamp (not smooth)
        arrays = arrays[:2] + [arrays[2] + 0.5]
    fixed = tensors(st, arrays, (), device)
    options = kwargs_for(st, kwargs, device)

    def loss(*inputs):
        args = list(fixed)
        for i, x in zip(differentiable, inputs):
            args[i] = x
        return getattr(F, function)(*args, **options)
    assert st.autograd.gradcheck(loss, [st.tensor(arrays[i], device=device, requires_grad=True)
                                        for i in differentiable])


LAYERS = [
    ("MarginRankingLoss", {"margin": 0.3}, "margin_ranking"), ("HingeEmbeddingLoss", {}, "hinge_embedding"),
    ("SoftMarginLoss", {"reduction": "sum"}, "soft_margin"), ("CosineEmbeddingLoss", {}, "cosine_embedding"),
    ("TripletMarginLoss", {"swap": True}, "triplet"), ("MultiLabelSoftMarginLoss", {}, "multilabel_soft_margin"),
    ("MultiMarginLoss", {"p": 2}, "multi_margin"), ("PoissonNLLLoss", {"log_input": False},
                                                    "poisson_rate_full"),
    ("GaussianNLLLoss", {"full": True}, "gaussian"),
]


@pytest.mark.parametrize("layer, kwargs, case", LAYERS)
def test_layers_match_torch(device, layer, kwargs, case):
    _, _, arrays, differentiable = CASES[case]
    ours = getattr(st.nn, layer)(**kwargs)(*tensors(st, arrays, (), device))
    theirs = getattr(torch.nn, layer)(**kwargs)(*tensors(torch, arrays, ()))
    np.testing.assert_allclose(to_numpy(ours), theirs.numpy(), rtol=1e-10)


def test_weighted_layers_keep_the_weight_as_a_buffer(device):
    layer = st.nn.MultiMarginLoss(weight=st.tensor(WEIGHT, device=device))
    assert "weight" in layer.state_dict()
    theirs = torch.nn.MultiMarginLoss(weight=torch.tensor(WEIGHT))
    np.testing.assert_allclose(to_numpy(layer(st.tensor(A, device=device), st.tensor(LABELS, device=device))),
                               theirs(torch.tensor(A), torch.tensor(LABELS)).numpy(), rtol=1e-10)


def test_bad_arguments_name_the_problem(device):
    a = st.tensor(A, device=device)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(a, a, st.tensor(-VAR, device=device))
    with pytest.raises(ValueError, match=r"var of shape \(3,\)"):
        F.gaussian_nll_loss(a, a, st.ones(3, device=device))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        F.multi_margin_loss(a, st.tensor(LABELS, device=device), p=3)
    with pytest.raises(ValueError, match="one shape"):
        F.cosine_embedding_loss(a, a[:, :2], st.tensor(ROW_SIGNS, device=device))
    with pytest.raises(ValueError, match="reduction"):
        F.soft_margin_loss(a, a, reduction="average")
    with pytest.raises(TypeError, match="reduction="):
        F.poisson_nll_loss(a, a, size_average=False)
