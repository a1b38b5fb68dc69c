"""Conv1d and Conv2d against PyTorch: same weights in, same outputs and gradients out; gradchecks in float64."""
import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.functional.conv import conv1d, conv2d
from sparktensor.nn.modules.conv import Conv1d, Conv2d
from sparktensor.nn.parameter import Parameter
from conftest import to_numpy

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def compare(ours, theirs, x_np, device, grad_input=True, atol_relative_to_max=False):
    """Copy PyTorch's weights into ours, run both, compare outputs and the gradients of input, weight and bias.

    With ``atol_relative_to_max`` the absolute tolerance scales with the largest expected entry: a weight
    gradient summed over thousands of positions carries rounding error in proportion to its terms.
    """
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tol = TOLERANCE[x_np.dtype.type]

    def close(actual, expected, what):
        atol = tol["atol"] * (np.abs(expected).max() if atol_relative_to_max else 1)
        np.testing.assert_allclose(to_numpy(actual), expected, rtol=tol["rtol"], atol=atol, err_msg=what)

    x = st.tensor(x_np, device=device, requires_grad=grad_input)
    xt = torch.tensor(x_np, requires_grad=grad_input)
    y, yt = ours(x), theirs(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == x_np.dtype
    assert y.data.flags.c_contiguous
    close(y, yt.detach().numpy(), "output")
    g = np.random.default_rng(5).standard_normal(yt.shape).astype(x_np.dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    if grad_input:
        close(x.grad, xt.grad.numpy(), "input gradient")
    else:
        assert x.grad is None
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad.numpy(), f"{name} gradient")


def layers(cls, torch_cls, args, kwargs, dtype, device):
    """Our layer on ``device`` and PyTorch's, built with the same arguments, both in ``dtype``."""
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    return cls(*args, **kwargs).to(device, dtype), torch_cls(*args, **kwargs).to(torch_dtype)


CONV2D = [  # (in, out, kernel), keyword arguments, input (H, W)
    ((3, 4, 1), {}, (5, 6)),
    ((3, 4, 3), dict(padding=1), (7, 8)),
    ((2, 5, 5), dict(stride=2, padding=2), (9, 9)),
    ((3, 2, (3, 5)), dict(stride=(2, 1), padding=(1, 2)), (8, 7)),
    ((2, 3, 3), dict(dilation=2, padding=2), (9, 10)),
    ((2, 3, (2, 3)), dict(dilation=(2, 1), stride=2), (10, 7)),
    ((4, 6, 3), dict(groups=2, padding=1, bias=False), (6, 5)),
    ((4, 8, 3), dict(groups=4, padding=1), (7, 7)),           # depthwise, channel multiplier 2
    ((3, 3, (3, 2)), dict(groups=3, stride=(1, 2)), (6, 9)),    # depthwise, non-square
    ((3, 4, 3), dict(padding="same"), (7, 6)),
    ((3, 4, 4), dict(padding="same", bias=False), (8, 5)),     # even kernel: the extra padding goes after
    ((2, 4, (2, 3)), dict(padding="same", dilation=(3, 2)), (9, 8)),
    ((3, 4, (4, 3)), dict(padding="valid"), (6, 9)),
    ((3, 5, 5), dict(stride=3, bias=False), (11, 12)),
    ((1, 6, 5), dict(padding=2), (12, 12)),                    # the first LeNet layer
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("args, kwargs, size", CONV2D, ids=[f"{a}-{k}-{s}" for a, k, s in CONV2D])
def test_conv2d_matches_torch(device, args, kwargs, size, dtype):
    ours, theirs = layers(Conv2d, torch.nn.Conv2d, args, kwargs, dtype, device)
    x = np.random.default_rng(0).standard_normal((2, args[0]) + size).astype(dtype)
    compare(ours, theirs, x, device)


CONV1D = [
    ((3, 4, 3), dict(padding=1), 9),
    ((2, 3, 4), dict(padding="same"), 10),
    ((2, 3, 5), dict(stride=2, dilation=2, padding=3, bias=False), 13),
    ((4, 6, 3), dict(groups=2), 8),
    ((4, 4, 3), dict(groups=4, padding="valid"), 7),
    ((3, 2, 1), dict(stride=3), 11),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("args, kwargs, length", CONV1D, ids=[f"{a}-{k}-{n}" for a, k, n in CONV1D])
def test_conv1d_matches_torch(device, args, kwargs, length, dtype):
    ours, theirs = layers(Conv1d, torch.nn.Conv1d, args, kwargs, dtype, device)
    x = np.random.default_rng(1).standard_normal((3, args[0], length)).astype(dtype)
    compare(ours, theirs, x, device)


def test_conv2d_without_input_gradient(device):
    """The first layer of a network: only weight and bias gradients are wanted."""
    ours, theirs = layers(Conv2d, torch.nn.Conv2d, (1, 3, 3), dict(padding=1), np.float32, device)
    compare(ours, theirs, np.random.default_rng(2).standard_normal((4, 1, 6, 6)).astype(np.float32), device,
            grad_input=False)


def test_conv2d_larger_batch_float32(device):
    ours, theirs = layers(Conv2d, torch.nn.Conv2d, (6, 16, 5), {}, np.float32, device)
    compare(ours, theirs, np.random.default_rng(3).standard_normal((16, 6, 14, 14)).astype(np.float32), device,
            atol_relative_to_max=True)


def _f64(rng, shape, device):
    return st.tensor(rng.standard_normal(shape), dtype=st.float64, device=device, requires_grad=True)


@pytest.mark.parametrize("kwargs", [dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
                                    dict(padding="same", groups=2), dict(stride=2, padding=1, groups=2)],
                         ids=["strided-dilated-grouped", "same", "stride2"])
def test_conv2d_gradcheck(device, kwargs):
    rng = np.random.default_rng(4)
    x, w, b = _f64(rng, (2, 4, 5, 6), device), _f64(rng, (6, 2, 3, 2), device), _f64(rng, (6,), device)
    assert st.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, **kwargs), [x, w, b])


def test_conv1d_gradcheck(device):
    rng = np.random.default_rng(5)
    x, w, b = _f64(rng, (2, 4, 9), device), _f64(rng, (6, 2, 3), device), _f64(rng, (6,), device)
    assert st.autograd.gradcheck(lambda x, w, b: conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2),
                                 [x, w, b])


def test_functional_conv2d_matches_torch(device):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    y = conv2d(st.tensor(x, device=device), st.tensor(w, device=device), None, 2, (1, 0))
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 2, (1, 0))
    np.testing.assert_allclose(to_numpy(y), expected.numpy(), rtol=1e-10, atol=1e-10)


def test_default_init_has_pytorch_bounds(device):
    st.manual_seed(0)
    layer = Conv2d(8, 4, 3).to(device)
    bound = 1 / np.sqrt(8 * 9)
    w, b = to_numpy(layer.weight), to_numpy(layer.bias)
    assert w.shape == (4, 8, 3, 3) and b.shape == (4,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    assert isinstance(layer.weight, Parameter) and isinstance(layer.bias, Parameter)


@pytest.mark.parametrize("ours, theirs", [
    (Conv2d(3, 6, 5), torch.nn.Conv2d(3, 6, 5)),
    (Conv2d(4, 6, (3, 2), 2, 1, 2, 2, False), torch.nn.Conv2d(4, 6, (3, 2), 2, 1, 2, 2, False)),
    (Conv2d(3, 6, 4, padding="same"), torch.nn.Conv2d(3, 6, 4, padding="same")),
    (Conv1d(3, 6, 5, 2, "valid"), torch.nn.Conv1d(3, 6, 5, 2, "valid")),
], ids=repr)
def test_repr_matches_torch(ours, theirs):
    assert repr(ours) == repr(theirs)


def test_wrong_channels_names_layer_and_shapes(device):
    layer = Conv2d(3, 6, 5).to(device)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 6, kernel_size=\(5, 5\).*3 input channels.*\(2, 4, 8, 8\)"):
        layer(st.ones(2, 4, 8, 8, device=device))


def test_non_4d_input_names_layer_and_shape(device):
    with pytest.raises(ValueError, match=r"Conv2d\(3, 6, kernel_size=\(5, 5\).*4-d input.*\(3, 8, 8\)"):
        Conv2d(3, 6, 5).to(device)(st.ones(3, 8, 8, device=device))
    with pytest.raises(ValueError, match=r"Conv1d\(3, 6, kernel_size=\(5,\).*3-d input.*\(2, 3, 8, 8\)"):
        Conv1d(3, 6, 5).to(device)(st.ones(2, 3, 8, 8, device=device))


def test_functional_errors(device):
    x = st.ones(1, 4, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"4 channels.*groups=2 expects 6"):
        conv2d(x, st.ones(2, 3, 3, 3, device=device), groups=2)
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        conv2d(x, st.ones(2, 4, 3, 3, device=device), stride=2, padding="same")
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv2d(x, st.ones(2, 4, 7, 7, device=device))
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(4, 6, 3, groups=4)
