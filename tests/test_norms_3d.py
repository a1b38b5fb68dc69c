"""``BatchNorm3d`` and ``InstanceNorm3d`` against PyTorch's over training steps and then eval: outputs, input
gradients, running statistics and step counts."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


@pytest.mark.parametrize("layer, kwargs", [
    ("BatchNorm3d", {}), ("BatchNorm3d", {"momentum": None}), ("BatchNorm3d", {"affine": False}),
    ("InstanceNorm3d", {}), ("InstanceNorm3d", {"affine": True, "track_running_stats": True}),
])
def test_3d_norm_matches_torch_in_training_and_eval(device, rng, layer, kwargs):
    theirs = getattr(torch.nn, layer)(3, **kwargs).double()
    ours = getattr(st.nn, layer)(3, **kwargs).double().to(device)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for _ in range(3):
        values = rng.standard_normal((2, 3, 4, 5, 3)) * 2 + 1
        x, tx = st.tensor(values, device=device, requires_grad=True), torch.tensor(values, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        upstream = rng.standard_normal(values.shape)
        y.backward(st.tensor(upstream, device=device))
        ty.backward(torch.tensor(upstream))
        np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    expected = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(to_numpy(value), expected[key].numpy(), rtol=1e-10, err_msg=key)
    ours.eval()
    theirs.eval()
    values = rng.standard_normal((2, 3, 4, 5, 3))
    np.testing.assert_allclose(to_numpy(ours(st.tensor(values, device=device))),
                               theirs(torch.tensor(values)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_3d_norms_name_the_expected_shape(device):
    with pytest.raises(ValueError, match="5-D"):
        st.nn.BatchNorm3d(3).to(device)(st.ones(2, 3, 4, 5, device=device))
    with pytest.raises(ValueError, match="5-D"):
        st.nn.InstanceNorm3d(3).to(device)(st.ones(2, 3, 4, device=device))
