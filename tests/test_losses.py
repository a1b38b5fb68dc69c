"""Losses against PyTorch, in float64: values and gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


def both(device, *arrays, grad=(0,)):
    ours = [st.tensor(a, device=device, requires_grad=i in grad) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    return ours, theirs


def check(loss, tloss, ours, theirs, grad=(0,)):
    np.testing.assert_allclose(to_numpy(loss), tloss.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(tuple(tloss.shape))
    loss.backward(st.tensor(g, device=ours[0].device))
    tloss.backward(torch.tensor(g))
    for i in grad:
        np.testing.assert_allclose(to_numpy(ours[i].grad), theirs[i].grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_cross_entropy(device, reduction, smoothing, weighted, shape):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(shape) * 3
    labels = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    labels.reshape(-1)[1] = -100
    weight = rng.uniform(0.5, 2, shape[1]) if weighted else None
    (x,), (xt,) = both(device, logits)
    loss = F.cross_entropy(x, st.tensor(labels, device=device), reduction=reduction, label_smoothing=smoothing,
                           weight=None if weight is None else st.tensor(weight, device=device))
    tloss = TF.cross_entropy(xt, torch.tensor(labels), reduction=reduction, label_smoothing=smoothing,
                             weight=None if weight is None else torch.tensor(weight))
    check(loss, tloss, [x], [xt])


def test_cross_entropy_gradcheck(device):
    x = st.randn(5, 3, dtype=st.float64, device=device, requires_grad=True)
    labels = st.tensor([0, 2, 1, 1, 0], device=device)
    assert st.autograd.gradcheck(lambda a: F.cross_entropy(a, labels, label_smoothing=0.1), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignored", ["none", "some", "all"])
def test_label_cross_entropy_matches_torch_to_second_order(device, reduction, ignored):
    # the unweighted, unsmoothed (N, C) case is one fused node: values, gradients and Hessian-vector products
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 4)) * 3
    labels = rng.integers(0, 4, 6)
    if ignored == "some":
        labels[[1, 4]] = 2
    elif ignored == "all":
        labels[:] = 2
    (x,), (xt,) = both(device, logits)
    loss = F.cross_entropy(x, st.tensor(labels, device=device), ignore_index=2, reduction=reduction)
    tloss = TF.cross_entropy(xt, torch.tensor(labels), ignore_index=2, reduction=reduction)
    v = rng.standard_normal(logits.shape)
    u = np.ones(()) if reduction != "none" else rng.standard_normal(6)
    (g,) = st.autograd.grad(loss, [x], st.tensor(u, device=device), create_graph=True)
    (tg,) = torch.autograd.grad(tloss, [xt], torch.tensor(u), create_graph=True)
    (hv,) = st.autograd.grad((g * st.tensor(v, device=device)).sum(), [x])
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [xt])
    for ours, theirs in ((loss, tloss), (g, tg), (hv, thv)):
        np.testing.assert_allclose(to_numpy(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    if ignored != "all":
        labels_t = st.tensor(labels, device=device)
        fn = lambda a: F.cross_entropy(a, labels_t, ignore_index=2, reduction=reduction)  # noqa: E731
        assert st.autograd.gradcheck(fn, [x]) and st.autograd.gradgradcheck(fn, [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(device, reduction):
    rng = np.random.default_rng(2)
    logp = np.log(rng.dirichlet(np.ones(5), size=7))
    labels = rng.integers(0, 5, 7)
    (x,), (xt,) = both(device, logp)
    check(F.nll_loss(x, st.tensor(labels, device=device), reduction=reduction),
          TF.nll_loss(xt, torch.tensor(labels), reduction=reduction), [x], [xt])


def test_cross_entropy_bad_labels_are_named(device):
    x = st.randn(3, 4, device=device)
    with pytest.raises(IndexError, match=r"label 7 at position \(1,\) is out of range for 4 classes"):
        F.cross_entropy(x, st.tensor([0, 7, 1], device=device))
    with pytest.raises(TypeError, match="integer class indices.*float32"):
        F.cross_entropy(x, st.tensor([0.0, 1.0, 1.0], device=device))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\).*\(2,\)"):
        F.cross_entropy(x, st.tensor([0, 1], device=device))


@pytest.mark.parametrize("name, ours, theirs", [
    ("mse", F.mse_loss, TF.mse_loss), ("l1", F.l1_loss, TF.l1_loss),
    ("huber", lambda a, b, reduction: F.huber_loss(a, b, reduction, delta=0.7),
     lambda a, b, reduction: TF.huber_loss(a, b, reduction=reduction, delta=0.7)),
    ("bce_logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses(device, name, ours, theirs, reduction):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)) * 3
    b = rng.uniform(0, 1, (4, 3)) if name == "bce_logits" else rng.standard_normal((4, 3))
    xs, ts = both(device, a, b, grad=(0, 1))
    check(ours(*xs, reduction=reduction), theirs(*ts, reduction=reduction), xs, ts, grad=(0, 1))


def test_bce_with_logits_is_stable_and_takes_pos_weight(device):
    a = np.array([[-800.0, 800.0, 0.5]])
    b = np.array([[1.0, 0.0, 1.0]])
    pw = np.array([2.0, 0.5, 3.0])
    xs, ts = both(device, a, b)
    loss = F.binary_cross_entropy_with_logits(xs[0], xs[1], pos_weight=st.tensor(pw, device=device))
    tloss = TF.binary_cross_entropy_with_logits(ts[0], ts[1], pos_weight=torch.tensor(pw))
    assert np.isfinite(to_numpy(loss)).all()
    check(loss, tloss, xs, ts)


def test_shape_mismatch_is_named(device):
    with pytest.raises(ValueError, match=r"mse_loss.*\(2, 3\).*\(3,\)"):
        F.mse_loss(st.ones(2, 3, device=device), st.ones(3, device=device))


# ----- loss modules with PyTorch's arguments, and the functional losses they wrap -----
def _inputs(kind, rng):
    """(input, target, which get gradients) for a loss family, float64."""
    if kind == "labels":
        return rng.standard_normal((5, 4)) * 2, rng.integers(0, 4, 5), (0,)
    if kind == "log_probs":
        x = rng.standard_normal((5, 4))
        return x - np.log(np.exp(x).sum(1, keepdims=True)), rng.integers(0, 4, 5), (0,)
    if kind == "probabilities":
        return rng.uniform(0.05, 0.95, (5, 3)), rng.uniform(0, 1, (5, 3)), (0, 1)
    if kind == "distribution":
        x = rng.standard_normal((5, 4))
        p = rng.dirichlet(np.ones(4), 5)
        p[0, 1] = 0.0  # a zero target probability adds nothing, as xlogy (PyTorch's gradient there is nan)
        return x - np.log(np.exp(x).sum(1, keepdims=True)), p, (0,)
    return rng.standard_normal((5, 3)) * 2, rng.standard_normal((5, 3)), (0, 1)


WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
LOSS_MODULES = [
    ("CrossEntropyLoss", {}, "labels"),
    ("CrossEntropyLoss", {"reduction": "sum", "label_smoothing": 0.1}, "labels"),
    ("CrossEntropyLoss", {"weight": WEIGHT, "ignore_index": 2}, "labels"),
    ("CrossEntropyLoss", {"weight": WEIGHT, "label_smoothing": 0.3, "reduction": "none"}, "labels"),
    ("CrossEntropyLoss", {}, "soft"),
    ("CrossEntropyLoss", {"weight": WEIGHT, "label_smoothing": 0.2}, "soft"),
    ("NLLLoss", {}, "log_probs"),
    ("NLLLoss", {"weight": WEIGHT, "reduction": "sum", "ignore_index": 1}, "log_probs"),
    ("MSELoss", {}, "regression"),
    ("MSELoss", {"reduction": "none"}, "regression"),
    ("L1Loss", {"reduction": "sum"}, "regression"),
    ("BCELoss", {}, "probabilities"),
    ("BCELoss", {"weight": np.array([1.0, 0.5, 2.0]), "reduction": "sum"}, "probabilities"),
    ("BCEWithLogitsLoss", {"pos_weight": np.array([1.0, 3.0, 0.5])}, "regression01"),
    ("HuberLoss", {"delta": 0.7}, "regression"),
    ("SmoothL1Loss", {"beta": 0.5}, "regression"),
    ("SmoothL1Loss", {"beta": 0.0, "reduction": "none"}, "regression"),
    ("KLDivLoss", {"reduction": "batchmean"}, "distribution"),
    ("KLDivLoss", {}, "distribution"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "log_distribution"),
    ("MSELoss", {"size_average": False}, "regression"),
]


@pytest.mark.parametrize("name, kwargs, kind", LOSS_MODULES,
                         ids=[f"{n}-{'-'.join(k)}-{kind}" for n, k, kind in LOSS_MODULES])
def test_loss_module_matches_torch(device, name, kwargs, kind):
    rng = np.random.default_rng(7)
    if kind == "soft":
        x, target = rng.standard_normal((5, 4)), rng.dirichlet(np.ones(4), 5)
        grad = (0, 1)
    elif kind == "regression01":
        x, target = rng.standard_normal((5, 3)) * 2, rng.uniform(0, 1, (5, 3))
        grad = (0, 1)
    elif kind == "log_distribution":
        x, p, _ = _inputs("distribution", rng)
        target, grad = np.log(rng.dirichlet(np.ones(4), 5)), (0, 1)
    else:
        x, target, grad = _inputs(kind, rng)
    ours = getattr(st.nn, name)(**{k: st.tensor(v, device=device) if isinstance(v, np.ndarray) else v
                                   for k, v in kwargs.items()})
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kwargs.items()})
    (a, b), (ta, tb) = both(device, x, target, grad=grad)
    check(ours(a, b), theirs(ta, tb), [a, b], [ta, tb], grad=grad)
    assert ours.reduction == theirs.reduction
    if "weight" in kwargs:
        assert "weight" in ours.state_dict() and "weight" in theirs.state_dict()


def test_bce_clamps_the_log_as_torch_and_refuses_logits(device):
    x, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(to_numpy(F.binary_cross_entropy(st.tensor(x, device=device), st.tensor(t, device=device))),
                               TF.binary_cross_entropy(torch.tensor(x), torch.tensor(t)).numpy())
    with pytest.raises(ValueError, match="with_logits"):
        st.nn.BCELoss()(st.tensor([-0.5, 2.0], device=device), st.tensor([0.0, 1.0], device=device))
    with pytest.raises(ValueError, match="batchmean"):
        st.nn.KLDivLoss(reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_an_ignored_row_with_an_infinite_logit_adds_nothing_as_in_pytorch(reduction):
    x = np.array([[-np.inf, 1.0, 2.0], [0.5, 0.1, -1.0], [0.3, -np.inf, 0.2]], np.float32)
    y = np.array([-100, 2, 0])
    ours = st.tensor(x, requires_grad=True)
    loss = st.nn.functional.cross_entropy(ours, st.tensor(y), reduction=reduction)
    loss.sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(theirs, torch.tensor(y), reduction=reduction)
    expected.sum().backward()
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-7)
