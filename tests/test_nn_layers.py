"""Layers against PyTorch: same weights in, same outputs and gradients out."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy


def copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def compare(ours, theirs, x_np, device, rtol=1e-5, atol=1e-6, integer_input=False):
    """Run both layers on the same input; compare outputs, input gradients and parameter gradients."""
    torch.manual_seed(0)
    x = st.tensor(x_np, device=device, requires_grad=not integer_input)
    xt = torch.tensor(x_np, requires_grad=not integer_input)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(5).standard_normal(yt.shape).astype(x_np.dtype if not integer_input else np.float32)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    if not integer_input:
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=rtol, atol=atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), theirs_params[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear(device, bias, shape):
    ours, theirs = nn.Linear(4, 3, bias=bias).to(device), torch.nn.Linear(4, 3, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, np.random.default_rng(0).standard_normal(shape).astype(np.float32), device)


def test_linear_float64_gradcheck(device):
    layer = nn.Linear(3, 2).to(device, st.float64)
    x = st.randn(4, 3, dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a, w, b: F.linear(a, w, b), [x, layer.weight, layer.bias])


def test_linear_default_init_has_pytorch_bounds(device):
    st.manual_seed(0)
    layer = nn.Linear(100, 50).to(device)
    bound = 1 / np.sqrt(100)
    w, b = to_numpy(layer.weight), to_numpy(layer.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound


def test_linear_wrong_features_names_layer_and_shapes(device):
    layer = nn.Linear(4, 3).to(device)
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*\(\*, 4\).*\(2, 5\)"):
        layer(st.ones(2, 5, device=device))


@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.Tanh(), torch.nn.Tanh()),
    (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Softmax(1), torch.nn.Softmax(1)),
    (nn.LogSoftmax(-1), torch.nn.LogSoftmax(-1)), (nn.Flatten(), torch.nn.Flatten()),
    (nn.Identity(), torch.nn.Identity()),
], ids=lambda m: repr(m))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_and_shape_layers(device, ours, theirs, dtype):
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    compare(ours, theirs, x, device, rtol=tol, atol=tol)


@pytest.mark.parametrize("fn", [lambda x: F.leaky_relu(x, 0.1), F.gelu, lambda x: F.gelu(x, "tanh"),
                                lambda x: F.elu(x, 1.3)], ids=["leaky_relu", "gelu", "gelu_tanh", "elu"])
def test_activation_gradcheck(device, fn):
    x = st.tensor(np.random.default_rng(2).uniform(-2, 2, (3, 4)) + 0.05, dtype=st.float64, device=device,
                  requires_grad=True)
    assert st.autograd.gradcheck(fn, [x])


def test_dropout_train_and_eval(device):
    st.manual_seed(3)
    layer = nn.Dropout(0.25)
    x = st.ones(4000, device=device, requires_grad=True)
    y = layer(x)
    kept = to_numpy(y) != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(to_numpy(y)[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), to_numpy(y))
    layer.eval()
    assert layer(x) is x
    st.manual_seed(3)
    again = nn.Dropout(0.25)(st.ones(4000, device=device))
    np.testing.assert_array_equal(to_numpy(again), to_numpy(y))


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding(device, padding_idx):
    ours, theirs = nn.Embedding(10, 4, padding_idx=padding_idx), torch.nn.Embedding(10, 4, padding_idx=padding_idx)
    ours.to(device)
    copy_weights(ours, theirs)
    idx = np.array([[1, 2, 0], [9, 1, 1]])
    x = st.tensor(idx, device=device)
    y, yt = ours(x), theirs(torch.tensor(idx))
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy())
    g = np.random.default_rng(0).standard_normal(yt.shape).astype(np.float32)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-6)


def test_embedding_index_out_of_range(device):
    with pytest.raises(IndexError, match="10 is out of range for 10"):
        nn.Embedding(10, 2).to(device)(st.tensor([3, 10], device=device))


FLOATS = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 4), (3, 4)), ((5, 7), (7,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(device, shape, normalized, affine, dtype, tol):
    ours, theirs = nn.LayerNorm(normalized, elementwise_affine=affine), torch.nn.LayerNorm(normalized,
                                                                                          elementwise_affine=affine)
    ours.to(device, dtype)
    theirs.to(getattr(torch, np.dtype(dtype).name))
    if affine:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
        copy_weights(ours, theirs)
    compare(ours, theirs, np.random.default_rng(3).standard_normal(shape).astype(dtype), device, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls, tcls, shape", [(nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 3)),
                                              (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
                                              (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 2))])
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_batch_norm_train_then_eval(device, cls, tcls, shape, dtype, tol):
    ours, theirs = cls(3).to(device, dtype), tcls(3).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(4)
    for _ in range(3):
        compare(ours, theirs, (rng.standard_normal(shape) * 2 + 1).astype(dtype), device, rtol=tol, atol=tol)
        ours.zero_grad()
        theirs.zero_grad()
    np.testing.assert_allclose(to_numpy(ours.running_mean), theirs.running_mean.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(ours.running_var), theirs.running_var.numpy(), rtol=tol, atol=tol)
    assert int(ours.num_batches_tracked.item()) == 3
    ours.eval()
    theirs.eval()
    compare(ours, theirs, rng.standard_normal(shape).astype(dtype), device, rtol=tol, atol=tol)


def test_batch_norm_wrong_channels(device):
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*3 channels.*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3).to(device)(st.ones(2, 4, 5, 5, device=device))


def test_layer_norm_and_batch_norm_gradcheck(device):
    x = st.randn(4, 3, 2, dtype=st.float64, device=device, requires_grad=True)
    w = st.randn(3, dtype=st.float64, device=device, requires_grad=True)
    b = st.randn(3, dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a, w_, b_: F.batch_norm(a, None, None, w_, b_, training=True), [x, w, b])
    w2 = st.randn(2, dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a, w_: F.layer_norm(a, 2, w_), [x, w2])
