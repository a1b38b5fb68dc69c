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
