"""EmbeddingBag / embedding_bag against PyTorch in every mode and layout, float64 gradchecks, and bad input."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy

FLOATS = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-12, id="float64")]
FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 4, 0])
# offsets with an empty bag (2:2) and a bag of padding only when padding_idx is 4 (8:9)
OFFSETS = np.array([0, 2, 2, 5, 8, 9])
LAYOUTS = {"2-d": (np.array([[1, 2, 4], [5, 4, 4], [7, 2, 9]]), None, False),
           "offsets": (FLAT, OFFSETS, False),
           "last offset": (FLAT, np.append(OFFSETS, len(FLAT)), True)}


def run_both(mode, layout, padding_idx, weighted, dtype, device):
    """Both libraries' layers with one weight, on one input; returns outputs and gradients."""
    indices, offsets, last = LAYOUTS[layout]
    rng = np.random.default_rng(0)
    theirs = torch.nn.EmbeddingBag(10, 4, mode=mode, include_last_offset=last, padding_idx=padding_idx,
                                   dtype=getattr(torch, np.dtype(dtype).name))
    ours = nn.EmbeddingBag(10, 4, mode=mode, include_last_offset=last, padding_idx=padding_idx, dtype=dtype,
                           device=device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    psw = rng.standard_normal(indices.shape).astype(dtype) if weighted else None
    psw_ours = None if psw is None else st.tensor(psw, device=device, requires_grad=True)
    psw_theirs = None if psw is None else torch.tensor(psw, requires_grad=True)
    y = ours(st.tensor(indices, device=device), None if offsets is None else st.tensor(offsets, device=device),
             per_sample_weights=psw_ours)
    yt = theirs(torch.tensor(indices), None if offsets is None else torch.tensor(offsets), per_sample_weights=psw_theirs)
    g = rng.standard_normal(yt.shape).astype(dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    pairs = [(y, yt.detach()), (ours.weight.grad, theirs.weight.grad)]
    if weighted:
        pairs.append((psw_ours.grad, psw_theirs.grad))
    return pairs


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("padding_idx", [None, 4, -6])
@pytest.mark.parametrize("mode, weighted", [("sum", False), ("sum", True), ("mean", False), ("max", False)])
def test_embedding_bag_matches_torch(device, mode, weighted, layout, padding_idx, dtype, tol):
    for ours, theirs in run_both(mode, layout, padding_idx, weighted, dtype, device):
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(to_numpy(ours), theirs.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(device, mode):
    rng = np.random.default_rng(1)
    weight = st.tensor(rng.standard_normal((10, 3)), device=device, requires_grad=True)
    indices, offsets = st.tensor(FLAT, device=device), st.tensor(OFFSETS, device=device)
    assert st.autograd.gradcheck(lambda w: F.embedding_bag(indices, w, offsets, mode=mode, padding_idx=4), [weight])
    if mode == "sum":
        psw = st.tensor(rng.standard_normal(FLAT.shape), device=device, requires_grad=True)
        assert st.autograd.gradcheck(lambda w, p: F.embedding_bag(indices, w, offsets, mode="sum",
                                                                  per_sample_weights=p), [weight, psw])


def test_empty_bags_are_zero_and_padding_is_not_counted(device):
    weight = st.tensor(np.arange(12.0).reshape(6, 2), device=device)
    y = to_numpy(F.embedding_bag(st.tensor([1, 3, 3], device=device), weight, st.tensor([0, 0, 2]), mode="mean",
                                 padding_idx=3))
    np.testing.assert_array_equal(y, [[0, 0], [2, 3], [0, 0]])


def test_bad_input_is_named():
    w = st.zeros((5, 2))
    with pytest.raises(ValueError, match="offsets must be None"):
        F.embedding_bag(st.tensor([[1, 2]]), w, st.tensor([0]))
    with pytest.raises(ValueError, match="must start at 0"):
        F.embedding_bag(st.tensor([1, 2, 3]), w, st.tensor([1, 2]))
    with pytest.raises(ValueError, match="not decrease"):
        F.embedding_bag(st.tensor([1, 2, 3]), w, st.tensor([0, 2, 1]))
    with pytest.raises(IndexError, match="index 5 is out of range"):
        F.embedding_bag(st.tensor([1, 5]), w, st.tensor([0]))
    with pytest.raises(ValueError, match="need mode='sum'"):
        F.embedding_bag(st.tensor([1, 2]), w, st.tensor([0]), per_sample_weights=st.ones(2))
    with pytest.raises(ValueError, match="shape of input"):
        F.embedding_bag(st.tensor([1, 2]), w, st.tensor([0]), mode="sum", per_sample_weights=st.ones(3))
    with pytest.raises(TypeError, match="integers"):
        F.embedding_bag(st.tensor([1.0, 2.0]), w, st.tensor([0]))
    with pytest.raises(ValueError, match="not supported"):
        nn.EmbeddingBag(5, 2, max_norm=1.0)


def test_padding_row_starts_at_zero_and_repr():
    layer = nn.EmbeddingBag(5, 3, mode="sum", padding_idx=-1)
    assert layer.padding_idx == 4 and not to_numpy(layer.weight)[4].any() and to_numpy(layer.weight)[0].any()
    assert repr(layer) == "EmbeddingBag(5, 3, mode='sum', padding_idx=4)"


def test_given_weight_is_used_and_its_shape_checked():
    weight = np.arange(10.0).reshape(5, 2)
    layer = nn.EmbeddingBag(5, 2, mode="max", _weight=weight)
    np.testing.assert_array_equal(to_numpy(layer(st.tensor([[0, 3], [4, 1]]))), [[6, 7], [8, 9]])
    with pytest.raises(ValueError, match="must be \\(4, 2\\)"):
        nn.EmbeddingBag(4, 2, _weight=weight)
