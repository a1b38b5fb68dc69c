"""The padding layers in 1, 2 and 3 dimensions (zeros, a constant, reflection, replication, circular) against
PyTorch's: values, input gradients and reprs, for one width everywhere and for a different width per side."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

KINDS = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("widths", ["one", "per_side"])
def test_padding_layer_matches_torch(device, rng, kind, dims, widths):
    padding = 2 if widths == "one" else tuple(range(1, 2 * dims + 1))
    args = (padding, -1.5) if kind == "ConstantPad" else (padding,)
    ours, theirs = getattr(st.nn, f"{kind}{dims}d")(*args), getattr(torch.nn, f"{kind}{dims}d")(*args)
    assert repr(ours) == repr(theirs)
    values = rng.standard_normal((2, 3) + (7,) * dims)
    x, tx = st.tensor(values, device=device, requires_grad=True), torch.tensor(values, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_array_equal(to_numpy(y), ty.detach().numpy())
    upstream = rng.standard_normal(tuple(ty.shape))
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)


def test_padding_layers_refuse_bad_widths_and_inputs(device):
    with pytest.raises(ValueError, match="4 ints"):
        st.nn.ReflectionPad2d((1, 2, 3))
    with pytest.raises(ValueError, match="at least 4-D"):
        st.nn.ReplicationPad3d(1)(st.ones(2, 3, 4, device=device))
    with pytest.raises(ValueError, match="reflect padding of 5"):
        st.nn.ReflectionPad1d(5)(st.ones(1, 2, 4, device=device))


def test_negative_widths_crop_as_torch(device, rng):
    values = rng.standard_normal((1, 2, 5, 6))
    ours = st.nn.ZeroPad2d((-1, 2, 0, -2))(st.tensor(values, device=device))
    theirs = torch.nn.ZeroPad2d((-1, 2, 0, -2))(torch.tensor(values))
    np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())
