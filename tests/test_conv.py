"""Conv1d and Conv2d against PyTorch: same weights in, same outputs and gradients out; gradchecks in float64."""
import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.functional.conv import conv1d, conv2d
from sparktensor.nn.modules.conv import Conv1d, Conv2d
from sparktensor.nn.parameter import Parameter
from backends import to_numpy

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
    # stored batch-last, (C_out, *spatial, N), so that the next layer reads it without a transposing copy
    assert y.data.transpose(tuple(range(1, y.ndim)) + (0,)).flags.c_contiguous
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


# ----- products in blocks -----
from sparktensor.nn.functional import _conv_blocks  # noqa: E402


@pytest.fixture
def small_blocks(monkeypatch):
    """Every product cut into many blocks, a short last one included; every transposing copy into pieces."""
    monkeypatch.setattr(_conv_blocks, "BLOCK_MACS", 700)
    monkeypatch.setattr(_conv_blocks, "COPY_PIECE", 50)


BLOCKED = [  # (N, C, H, W), weight shape, keyword arguments
    ((5, 6, 14, 13), (16, 6, 5, 5), {}),                                       # the second LeNet layer
    ((4, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),                          # the first, one input channel
    ((3, 4, 9, 11), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((3, 4, 10, 9), (8, 1, 3, 3), dict(padding=1, groups=4)),                 # depthwise
    ((2, 3, 11, 12), (5, 3, 5, 5), dict(stride=3, padding=(2, 1))),
]


@pytest.fixture(params=[False, True], ids=["one-thread", "three-threads"])
def threads(request, monkeypatch):
    """Products on the calling thread, or split over three threads even when small (rows not divisible by 3)."""
    if not request.param:
        yield
        return
    from sparktensor import parallel
    from sparktensor.nn.functional import _conv_threads
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 1)
    monkeypatch.setattr(_conv_threads, "SPLIT_OVER_THREADS", True)
    monkeypatch.setattr(_conv_threads, "MACS_PER_ELEMENT", 1)
    before = st.get_num_threads()
    st.set_num_threads(3)
    yield
    st.set_num_threads(before)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", BLOCKED, ids=[str(c[2]) or "plain" for c in BLOCKED])
def test_conv2d_in_small_blocks_matches_torch(small_blocks, threads, x_shape, w_shape, kwargs, bias):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    ours = [st.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = conv2d(ours[0], ours[1], ours[2] if bias else None, **kwargs)
    yt = torch.nn.functional.conv2d(theirs[0], theirs[1], theirs[2] if bias else None, **kwargs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(yt.shape)
    y.backward(st.tensor(g))
    yt.backward(torch.tensor(g))
    for a, at, name in zip(ours, theirs, ("input", "weight", "bias")):
        if name == "bias" and not bias:
            assert a.grad is None
            continue
        np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_conv2d_gradcheck_in_small_blocks(small_blocks):
    rng = np.random.default_rng(8)
    x, w, b = _f64(rng, (3, 2, 7, 6), "cpu"), _f64(rng, (4, 2, 3, 3), "cpu"), _f64(rng, (4,), "cpu")
    assert st.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), [x, w, b])


def test_lenet_layers_are_cut_into_blocks():
    """The LeNet layers run in several blocks of at most about BLOCK_MACS multiply-adds (or one output row)."""
    for x_shape, w_shape, padding in [((64, 1, 28, 28), (6, 1, 5, 5), 2), ((64, 6, 14, 14), (16, 6, 5, 5), 0)]:
        g = _conv_blocks.Geometry(x_shape, w_shape, (1, 1), ((padding,) * 2,) * 2, (1, 1), 1, True)
        rows = g.block_rows(np)
        assert 1 <= rows < g.ho
        assert rows == 1 or g.og * g.depth * g.run * rows <= _conv_blocks.BLOCK_MACS


def test_copy_in_pieces_of_a_transposed_array(monkeypatch):
    monkeypatch.setattr(_conv_blocks, "COPY_PIECE", 20)
    src = np.random.default_rng(9).standard_normal((4, 5, 6, 7)).transpose(2, 0, 3, 1)
    for source in (src, src[:1, 0, :, :3], src[:, :, :1]):
        dst = np.empty(source.shape)
        _conv_blocks.copy_in_pieces(np, dst, source)
        np.testing.assert_array_equal(dst, source)


def test_empty_batch_matches_torch(device):
    """A batch of no images: outputs and gradients of the right shapes, a zero weight gradient, as PyTorch's."""
    x = st.tensor(np.ones((0, 3, 8, 8)), device=device, requires_grad=True)
    w = st.tensor(np.ones((4, 3, 3, 3)), device=device, requires_grad=True)
    y = conv2d(x, w, padding=1)
    expected = torch.nn.functional.conv2d(torch.ones(0, 3, 8, 8), torch.ones(4, 3, 3, 3), padding=1)
    assert y.shape == tuple(expected.shape)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(to_numpy(w.grad), np.zeros((4, 3, 3, 3)))


# ----- the input gradient as a convolution of the output gradient, and batch-last inputs -----
STRIDE_ONE = [  # (N, C, H, W), weight shape, keyword arguments: the transposed convolution and its fallback
    ((3, 4, 7, 6), (5, 4, 3, 3), dict(padding=1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(padding=(2, 1), dilation=(2, 1), groups=2)),
    ((2, 3, 8, 7), (4, 3, 4, 3), dict(padding="same")),                    # padding 1 before, 2 after
    ((2, 3, 6, 7), (4, 3, 3, 3), dict(padding=3)),                         # wider than the kernel: the fallback
    ((2, 3, 6, 7), (4, 3, 1, 1), {}),                                      # 1x1
    ((3, 16, 5, 6), (16, 16, 3, 3), dict(padding=1)),                      # enough channels for the convolution
]


@pytest.fixture(params=[1, 10 ** 9], ids=["transposed", "per-column"])
def input_gradient_path(request, monkeypatch):
    """The input gradient of these small layers computed either way: as a convolution, or per kernel column."""
    monkeypatch.setattr(_conv_blocks, "MIN_TRANSPOSED_CHANNELS", request.param)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", STRIDE_ONE, ids=[str(c[2]) or "1x1" for c in STRIDE_ONE])
def test_two_stacked_stride_one_convs_match_torch(device, input_gradient_path, threads, x_shape, w_shape, kwargs,
                                                  dtype):
    """The second conv reads the first's batch-last output, and its input gradient arrives batch-last."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal(x_shape).astype(dtype)
    ws = [rng.standard_normal(w_shape).astype(dtype),
          rng.standard_normal((w_shape[0], w_shape[0] // kwargs.get("groups", 1)) + w_shape[2:]).astype(dtype)]
    ours = [st.tensor(a, device=device, requires_grad=True) for a in [x] + ws]
    theirs = [torch.tensor(a, requires_grad=True) for a in [x] + ws]
    y = conv2d(conv2d(ours[0], ours[1], **kwargs), ours[2], **kwargs)
    yt = torch.nn.functional.conv2d(torch.nn.functional.conv2d(theirs[0], theirs[1], **kwargs), theirs[2], **kwargs)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol["rtol"], atol=tol["atol"] * 10)
    g = rng.standard_normal(yt.shape).astype(dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    for a, at, name in zip(ours, theirs, ("input", "weight 1", "weight 2")):
        np.testing.assert_allclose(to_numpy(a.grad), at.grad.numpy(), rtol=tol["rtol"], atol=tol["atol"] * 10,
                                   err_msg=name)


def test_stride_one_gradcheck_with_uneven_padding(input_gradient_path):
    rng = np.random.default_rng(11)
    x, w, b = _f64(rng, (2, 4, 6, 5), "cpu"), _f64(rng, (4, 2, 4, 3), "cpu"), _f64(rng, (4,), "cpu")
    assert st.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, padding="same", dilation=(1, 2), groups=2),
                                 [x, w, b])
