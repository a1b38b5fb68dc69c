"""ctc_loss / CTCLoss against PyTorch (through log_softmax, as CTC is used), the float64 gradcheck of the true
gradient, how that gradient relates to PyTorch's, and bad input."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy

FLOATS = [pytest.param(np.float32, 1e-4, id="float32"), pytest.param(np.float64, 1e-11, id="float64")]
STEPS, CLASSES = 9, 5
# repeated labels (need a blank between), an empty target, a target that just fits, and one that cannot
TARGETS = [[1, 2, 2], [3, 1], [], [4, 4, 4], [2, 3, 1, 3]]
INPUT_LENGTHS = [9, 6, 4, 5, 3]


def batch(blank, possible):
    """(padded targets, concatenated targets, input lengths, target lengths) with labels moved off the blank."""
    targets = [[c if c != blank else 0 for c in t] for t in TARGETS] if blank else TARGETS
    if possible:
        targets, inputs = targets[:4], INPUT_LENGTHS[:4]
    else:
        inputs = INPUT_LENGTHS
    lengths = [len(t) for t in targets]
    padded = np.array([t + [1] * (max(lengths) - len(t)) for t in targets])
    return padded, np.concatenate([np.array(t, np.int64) for t in targets]), np.array(inputs), np.array(lengths)


def both(x_np, blank, reduction, zero_infinity, concatenated, possible, device):
    """Loss and logits gradient of ctc_loss(log_softmax(x)) in both libraries."""
    padded, flat, inputs, lengths = batch(blank, possible)
    targets = flat if concatenated else padded
    x_np = x_np[:, :len(inputs)]
    x = st.tensor(x_np, device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    loss = nn.CTCLoss(blank, reduction, zero_infinity)(F.log_softmax(x, 2), st.tensor(targets, device=device),
                                                       st.tensor(inputs), st.tensor(lengths))
    loss_t = torch.nn.CTCLoss(blank, reduction, zero_infinity)(xt.log_softmax(2), torch.tensor(targets),
                                                               torch.tensor(inputs), torch.tensor(lengths))
    g = np.random.default_rng(3).uniform(0.5, 1.5, loss_t.shape).astype(x_np.dtype)
    loss.backward(st.tensor(g, device=device))
    loss_t.backward(torch.tensor(g))
    return (to_numpy(loss), loss_t.detach().numpy()), (to_numpy(x.grad), xt.grad.numpy())


def logits(dtype, seed=0, steps=STEPS):
    return np.random.default_rng(seed).standard_normal((steps, len(TARGETS), CLASSES)).astype(dtype)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("blank", [0, CLASSES - 1])
@pytest.mark.parametrize("concatenated", [False, True])
@pytest.mark.parametrize("zero_infinity, possible", [(False, True), (True, False), (True, True)])
def test_ctc_matches_torch_through_log_softmax(device, reduction, blank, concatenated, zero_infinity, possible,
                                               dtype, tol):
    for ours, theirs in both(logits(dtype), blank, reduction, zero_infinity, concatenated, possible, device):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_impossible_target_is_infinite_without_zero_infinity(device):
    (loss, loss_t), _ = both(logits(np.float64), 0, "none", False, False, False, device)
    assert np.isinf(loss[4]) and np.isinf(loss_t[4])
    np.testing.assert_allclose(loss[:4], loss_t[:4], rtol=1e-12)


def test_ctc_gradcheck_on_log_probs(device):
    padded, _, inputs, lengths = batch(0, True)
    lp = st.tensor(np.random.default_rng(1).standard_normal((7, 4, CLASSES)) - 1.5, device=device,
                   requires_grad=True)
    inputs = np.minimum(inputs, 7)
    for reduction in ("none", "mean"):
        assert st.autograd.gradcheck(lambda a: F.ctc_loss(a, st.tensor(padded), inputs, lengths,
                                                          reduction=reduction), [lp])


def test_gradient_is_torchs_minus_the_softmax_term(device):
    """PyTorch's direct gradient is ours plus exp(log_probs) inside each input length (its logits gradient)."""
    padded, _, inputs, lengths = batch(0, True)
    lp_np = np.log(np.random.default_rng(2).dirichlet(np.ones(CLASSES), (STEPS, 4)))
    lp = st.tensor(lp_np, device=device, requires_grad=True)
    lpt = torch.tensor(lp_np, requires_grad=True)
    F.ctc_loss(lp, st.tensor(padded), inputs, lengths, reduction="sum").backward()
    torch.nn.functional.ctc_loss(lpt, torch.tensor(padded), torch.tensor(inputs), torch.tensor(lengths),
                                 reduction="sum").backward()
    inside = np.arange(STEPS)[:, None, None] < inputs[None, :, None]
    np.testing.assert_allclose(to_numpy(lp.grad) + np.exp(lp_np) * inside, lpt.grad.numpy(), atol=1e-12)
    assert not np.allclose(to_numpy(lp.grad), lpt.grad.numpy())


def test_long_sequences_stay_finite_in_log_space(device):
    steps = 400
    x = logits(np.float64, 4, steps)[:, :1] * 3
    targets = np.random.default_rng(5).integers(1, CLASSES, (1, 150))
    loss = F.ctc_loss(F.log_softmax(st.tensor(x, device=device), 2), st.tensor(targets), [steps], [150])
    loss_t = torch.nn.functional.ctc_loss(torch.tensor(x).log_softmax(2), torch.tensor(targets),
                                          torch.tensor([steps]), torch.tensor([150]))
    assert np.isfinite(to_numpy(loss))
    np.testing.assert_allclose(to_numpy(loss), loss_t.numpy(), rtol=1e-10)


def test_unbatched_input(device):
    x = logits(np.float64)[:, 0]
    loss = F.ctc_loss(F.log_softmax(st.tensor(x, device=device), 1), st.tensor([1, 2, 2]), 9, 3, reduction="none")
    loss_t = torch.nn.functional.ctc_loss(torch.tensor(x).log_softmax(1), torch.tensor([1, 2, 2]), torch.tensor(9),
                                          torch.tensor(3), reduction="none")
    assert loss.shape == tuple(loss_t.shape) == ()
    np.testing.assert_allclose(to_numpy(loss), loss_t.numpy(), rtol=1e-12)


def test_bad_input_is_named():
    lp = st.zeros((5, 2, 4))
    with pytest.raises(ValueError, match="other than the blank"):
        F.ctc_loss(lp, st.tensor([[0, 1], [1, 2]]), [5, 5], [2, 2])
    with pytest.raises(ValueError, match="in \\[0, 4\\)"):
        F.ctc_loss(lp, st.tensor([[4, 1], [1, 2]]), [5, 5], [2, 2])
    with pytest.raises(ValueError, match="input_lengths must be 2 integers"):
        F.ctc_loss(lp, st.tensor([[1, 1], [1, 2]]), [5], [2, 2])
    with pytest.raises(ValueError, match="must lie in \\[0, 5\\]"):
        F.ctc_loss(lp, st.tensor([[1, 1], [1, 2]]), [6, 5], [2, 2])
    with pytest.raises(ValueError, match="sum\\(target_lengths\\) = 4"):
        F.ctc_loss(lp, st.tensor([1, 1, 2]), [5, 5], [2, 2])
    with pytest.raises(ValueError, match="blank 4 is not one of the 4 classes"):
        F.ctc_loss(lp, st.tensor([[1, 1], [1, 2]]), [5, 5], [2, 2], blank=4)
    with pytest.raises(ValueError, match="reduction must be"):
        nn.CTCLoss(reduction="max")
