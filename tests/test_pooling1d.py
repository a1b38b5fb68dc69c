"""``max_pool1d``, ``avg_pool1d``, ``adaptive_avg_pool1d`` and their layers against PyTorch's: values, indices,
input gradients, unbatched input and reprs, with float64 gradient checks."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy

CASES = [
    ("max_pool1d", {"kernel_size": 3}), ("max_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("max_pool1d", {"kernel_size": 2, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}),
    ("avg_pool1d", {"kernel_size": 3}), ("avg_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("avg_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ("avg_pool1d", {"kernel_size": 4, "stride": 3, "ceil_mode": True}),
    ("adaptive_avg_pool1d", {"output_size": 4}), ("adaptive_avg_pool1d", {"output_size": 1}),
]


def distinct(rng, shape):
    """Values at least 0.1 apart: no ties inside a max window, so central differences see one maximum."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 30) * 0.1


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("function, kwargs", CASES)
def test_pool1d_matches_torch(device, rng, function, kwargs, batched):
    values = distinct(rng, (2, 3, 11) if batched else (3, 11))
    x, tx = st.tensor(values, device=device, requires_grad=True), torch.tensor(values, requires_grad=True)
    y, ty = getattr(F, function)(x, **kwargs), getattr(torch.nn.functional, function)(tx, **kwargs)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    upstream = rng.standard_normal(tuple(ty.shape))
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
    assert st.autograd.gradcheck(lambda t: getattr(F, function)(t, **kwargs),
                                 [st.tensor(values, device=device, requires_grad=True)])


def test_max_pool1d_indices_match_torch(device, rng):
    values = distinct(rng, (2, 3, 11))
    _, ours = F.max_pool1d(st.tensor(values, device=device), 3, 2, 1, return_indices=True)
    _, theirs = torch.nn.functional.max_pool1d(torch.tensor(values), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())


@pytest.mark.parametrize("layer, args, kwargs", [
    ("MaxPool1d", (3,), {}), ("MaxPool1d", (3, 2, 1, 2), {"ceil_mode": True}), ("AvgPool1d", (3,), {}),
    ("AvgPool1d", (3, 2, 1, True, False), {}), ("AdaptiveAvgPool1d", (4,), {}),
])
def test_pool1d_layers_match_torch(device, rng, layer, args, kwargs):
    ours, theirs = getattr(st.nn, layer)(*args, **kwargs), getattr(torch.nn, layer)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    values = distinct(rng, (2, 3, 11))
    np.testing.assert_allclose(to_numpy(ours(st.tensor(values, device=device))), theirs(torch.tensor(values)).numpy())


def test_pool1d_refuses_other_ranks(device):
    with pytest.raises(ValueError, match=r"\(N, C, L\) or \(C, L\)"):
        F.max_pool1d(st.ones(2, 3, 4, 5, device=device), 2)
    with pytest.raises(ValueError, match="1-tuple"):
        F.avg_pool1d(st.ones(2, 3, 4, device=device), (2, 2))
