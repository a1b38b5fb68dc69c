"""Arguments PyTorch code passes to layers: inplace= on activations and dropout, BatchNorm(momentum=None),
Dropout2d, padding_mode on convolutions; each against PyTorch with the same weights and inputs."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


@pytest.mark.parametrize("name, kwargs", [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7})])
def test_inplace_activation_overwrites_its_input_with_torch_gradients(device, name, kwargs):
    x = np.random.default_rng(0).standard_normal((3, 4))
    w, tw = st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = getattr(st.nn, name)(inplace=True, **kwargs), getattr(torch.nn, name)(inplace=True, **kwargs)
    h, th = w * 2, tw * 2
    out, tout = ours(h), theirs(th)
    assert out is h and tout is th
    np.testing.assert_allclose(to_numpy(h), th.detach().numpy(), rtol=1e-12)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_allclose(to_numpy(w.grad), tw.grad.numpy(), rtol=1e-10)
    assert "inplace=True" in repr(ours) if name == "ReLU" else True
    with pytest.raises(RuntimeError, match="leaf"):
        ours(w)


def test_inplace_dropout_and_functional_forms(device):
    h = st.ones(4, 5, device=device)
    st.manual_seed(0)
    out = F.dropout(h, 0.5, True, inplace=True)
    assert out is h and set(np.unique(to_numpy(h)).tolist()) <= {0.0, 2.0}
    x = st.tensor([-1.0, 2.0], device=device)
    assert F.relu(x, inplace=True) is x
    np.testing.assert_array_equal(to_numpy(x), [0.0, 2.0])


def test_dropout2d_zeroes_whole_channels_with_torch_scale(device):
    st.manual_seed(1)
    x = st.ones(8, 16, 3, 3, device=device, requires_grad=True)
    layer = st.nn.Dropout2d(0.25)
    y = layer(x)
    kept = to_numpy(y.detach())
    per_channel = kept.reshape(8, 16, -1)
    assert ((per_channel == 0).all(-1) | (per_channel == 1 / 0.75).all(-1)).all()
    assert 0 < (per_channel == 0).all(-1).sum() < 128
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), kept)  # the gradient follows the same mask
    assert layer.eval()(x) is x
    assert repr(layer) == repr(torch.nn.Dropout2d(0.25))


def test_batchnorm_momentum_none_is_the_cumulative_average(device):
    rng = np.random.default_rng(2)
    ours = st.nn.BatchNorm1d(3, momentum=None).double().to(device)
    theirs = torch.nn.BatchNorm1d(3, momentum=None).double()
    for _ in range(4):
        x = rng.standard_normal((6, 3)) * 2 + 1
        ours(st.tensor(x, device=device))
        theirs(torch.tensor(x))
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(to_numpy(ours.state_dict()[key]), theirs.state_dict()[key].numpy(), rtol=1e-12)
    assert "momentum=None" in repr(ours)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("conv, padding, shape", [("Conv2d", 2, (2, 3, 6, 7)), ("Conv2d", (1, 2), (1, 3, 5, 6)),
                                                   ("Conv2d", "same", (1, 3, 6, 6)), ("Conv1d", 1, (2, 3, 8))])
def test_padding_mode_matches_torch(device, mode, conv, padding, shape):
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, conv)(3, 4, 3, padding=padding, padding_mode=mode).double()
    ours = getattr(st.nn, conv)(3, 4, 3, padding=padding, padding_mode=mode).double().to(device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal(shape)
    sx, tx = st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(sx), theirs(tx)
    np.testing.assert_allclose(to_numpy(y.detach()), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = rng.standard_normal(ty.shape)
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(sx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap", "symmetric"])
def test_pad_modes_gradcheck(device, mode):
    x = st.tensor(np.random.default_rng(4).standard_normal((3, 4)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda t: st.pad(t, ((1, 2), (2, 1)), mode=mode), [x])
    np.testing.assert_array_equal(to_numpy(st.pad(x.detach(), 1, mode=mode)), np.pad(to_numpy(x.detach()), 1, mode))


def test_unknown_padding_mode_names_the_choices():
    with pytest.raises(ValueError, match="'reflect'.*'circular'"):
        st.nn.Conv2d(1, 1, 3, padding_mode="mirror")
