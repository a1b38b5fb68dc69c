"""GroupNorm, InstanceNorm, RMSNorm, SiLU, Mish, Hardswish, PReLU, Unflatten, padding and distances against
PyTorch, with float64 gradchecks."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy

FLOATS = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def torch_dtype(dtype):
    return getattr(torch, np.dtype(dtype).name)


def paired(ours, theirs, device, dtype):
    """Random parameters (and buffers) in PyTorch's layer, loaded into ours."""
    theirs.to(torch_dtype(dtype))
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.rand_like(p) - 0.5)
    ours.to(device, dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return ours, theirs


def compare(ours, theirs, arrays, device, tol):
    """Same inputs in, same outputs, input gradients and parameter gradients out."""
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    xts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = ours(*xs), theirs(*xts)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(5).standard_normal(yt.shape).astype(arrays[0].dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    for x, xt in zip(xs, xts):
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=tol, atol=tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), theirs_params[name].grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


def data(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("groups, shape", [(2, (3, 4, 5)), (1, (2, 6, 3, 2)), (6, (2, 6, 4)), (3, (4, 6))])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(device, groups, shape, affine, dtype, tol):
    ours, theirs = paired(nn.GroupNorm(groups, shape[1], affine=affine),
                          torch.nn.GroupNorm(groups, shape[1], affine=affine), device, dtype)
    compare(ours, theirs, [data(shape, dtype)], device, tol)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("cls, tcls, shape", [(nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (3, 4, 5)),
                                              (nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (4, 5)),
                                              (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (2, 4, 3, 5)),
                                              (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (4, 3, 5))])
@pytest.mark.parametrize("affine, track", [(False, False), (True, False), (True, True)])
def test_instance_norm_train_then_eval(device, cls, tcls, shape, affine, track, dtype, tol):
    ours, theirs = paired(cls(4, affine=affine, track_running_stats=track),
                          tcls(4, affine=affine, track_running_stats=track), device, dtype)
    for seed in range(2):
        compare(ours, theirs, [data(shape, dtype, seed)], device, tol)
        ours.zero_grad()
        theirs.zero_grad()
    if track:
        np.testing.assert_allclose(to_numpy(ours.running_mean), theirs.running_mean.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(to_numpy(ours.running_var), theirs.running_var.numpy(), rtol=tol, atol=tol)
        assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked.item()) == 0  # not counted
    ours.eval()
    theirs.eval()
    compare(ours, theirs, [data(shape, dtype, 7)], device, tol)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("normalized, shape", [(5, (3, 5)), ((3, 4), (2, 3, 4)), (6, (6,))])
@pytest.mark.parametrize("eps, affine", [(None, True), (1e-3, True), (None, False)])
def test_rms_norm(device, normalized, shape, eps, affine, dtype, tol):
    ours, theirs = paired(nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine),
                          torch.nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine), device, dtype)
    compare(ours, theirs, [data(shape, dtype)], device, tol)


@pytest.mark.parametrize("ours, theirs", [
    (nn.SiLU(), torch.nn.SiLU()), (nn.Mish(), torch.nn.Mish()), (nn.Hardswish(), torch.nn.Hardswish()),
    (nn.Unflatten(1, (2, 2)), torch.nn.Unflatten(1, (2, 2))),
    (nn.Unflatten(-1, (5, 1)), torch.nn.Unflatten(-1, (5, 1))),
    (nn.ZeroPad2d(1), torch.nn.ZeroPad2d(1)), (nn.ZeroPad2d((1, 0, 2, 3)), torch.nn.ZeroPad2d((1, 0, 2, 3))),
    (nn.ZeroPad1d((2, 1)), torch.nn.ZeroPad1d((2, 1))),
    (nn.ConstantPad2d((0, 1, 1, 0), 3.5), torch.nn.ConstantPad2d((0, 1, 1, 0), 3.5)),
], ids=repr)
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_parameterless_layers(device, ours, theirs, dtype, tol):
    x = data((3, 4, 5), dtype)
    x[0, 0, :3] = [-3.0, 3.0, -30.0]  # Hardswish's kinks and a large negative value
    compare(ours, theirs, [x], device, tol)


@pytest.mark.parametrize("num_parameters, shape", [(1, (3, 4, 5)), (4, (3, 4, 5)), (4, (2, 4)), (1, (6,))])
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_prelu(device, num_parameters, shape, dtype, tol):
    ours, theirs = paired(nn.PReLU(num_parameters, init=0.1), torch.nn.PReLU(num_parameters, init=0.1), device,
                          dtype)
    compare(ours, theirs, [data(shape, dtype)], device, tol)


@pytest.mark.parametrize("shapes, dim", [(((4, 5), (4, 5)), 1), (((3, 1, 5), (1, 4, 5)), -1), (((2, 3), (2, 3)), 0)])
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_cosine_similarity(device, shapes, dim, dtype, tol):
    arrays = [data(s, dtype, i) for i, s in enumerate(shapes)]
    compare(nn.CosineSimilarity(dim), torch.nn.CosineSimilarity(dim), arrays, device, tol)


def test_cosine_similarity_of_a_tiny_vector_matches_torch(device):
    arrays = [np.array([[1e-10, -2e-10, 0.0], [1.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])]
    compare(nn.CosineSimilarity(1), torch.nn.CosineSimilarity(1), arrays, device, 1e-10)


@pytest.mark.parametrize("p, keepdim", [(2.0, False), (1.0, True), (3.0, False)])
def test_pairwise_distance(device, p, keepdim):
    arrays = [data((4, 5), np.float64, 0), data((4, 5), np.float64, 1)]
    compare(nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim), arrays,
            device, 1e-10)


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize(device, p, dim):
    x = data((3, 4), np.float64)
    x[1] = 0.0  # a zero row: divided by eps, with PyTorch's gradient
    xs, xt = st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = F.normalize(xs, p, dim), torch.nn.functional.normalize(xt, p, dim)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), atol=1e-12)
    g = data((3, 4), np.float64, 3)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(xs.grad), xt.grad.numpy(), atol=1e-10)


GRADCHECKS = {
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), "xwb"),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b), "xwb"),
    "rms_norm": (lambda x, b: F.rms_norm(x, 3, b), "xb"),
    "silu_mish_hardswish": (lambda x: F.silu(x) + F.mish(x) + F.hardswish(x), "x"),
    "prelu": (lambda x, w: F.prelu(x, w), "xw"),
    "cosine_normalize": (lambda x: F.cosine_similarity(x, x * x, dim=1)[:, None] + F.normalize(x), "x"),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(device, name):
    rng = np.random.default_rng(2)
    values = {"x": rng.uniform(-2.5, 2.5, (2, 4, 3)) + 0.05, "w": rng.uniform(0.5, 1.5, 4),
              "b": rng.uniform(-0.5, 0.5, 4 if name != "rms_norm" else 3)}
    fn, which = GRADCHECKS[name]
    assert st.autograd.gradcheck(fn, [st.tensor(values[c], device=device, requires_grad=True) for c in which])


def test_errors_name_the_shapes(device):
    with pytest.raises(ValueError, match=r"num_channels \(6\).*num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"\(N, 6, \.\.\.\), got shape \(2, 5, 3\)"):
        nn.GroupNorm(3, 6).to(device)(st.ones(2, 5, 3, device=device))
    with pytest.raises(ValueError, match=r"3-D \(batched\) or 2-D input, got shape \(2, 3, 4, 5\)"):
        nn.InstanceNorm1d(3).to(device)(st.ones(2, 3, 4, 5, device=device))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\).*\(2, 4\)"):
        nn.PReLU(3).to(device)(st.ones(2, 4, device=device))
    with pytest.raises(ValueError, match=r"size 6 cannot be split into \(4, 2\)"):
        nn.Unflatten(1, (4, 2))(st.ones(2, 6, device=device))
    with pytest.raises(ValueError, match="4 ints"):
        nn.ZeroPad2d((1, 2, 3))


# ----- transposed convolutions, resizing, pixel shuffle, bilinear -----

@pytest.mark.parametrize("spatial", [1, 2])
@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1),
                                    dict(stride=3, padding=2, dilation=2, groups=2), dict(padding=2, bias=False),
                                    dict(stride=(2, 1), padding=(0, 1), output_padding=(1, 0))],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_conv_transpose(device, spatial, kwargs, dtype, tol):
    if spatial == 1 and any(isinstance(v, tuple) for v in kwargs.values()):
        kwargs = {k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()}
    cls, tcls = (nn.ConvTranspose1d, torch.nn.ConvTranspose1d) if spatial == 1 else (nn.ConvTranspose2d,
                                                                                       torch.nn.ConvTranspose2d)
    ours, theirs = paired(cls(4, 6, 3, **kwargs), tcls(4, 6, 3, **kwargs), device, dtype)
    compare(ours, theirs, [data((2, 4) + (5,) * spatial, dtype)], device, tol)


def test_conv_transpose_gradcheck(device):
    x = st.tensor(data((1, 2, 3, 4), np.float64), device=device, requires_grad=True)
    w = st.tensor(data((2, 3, 2, 3), np.float64, 1), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1),
                                 [x, w])


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 3, 5, 4), dict(size=(7, 9))), ((2, 3, 5, 4), dict(scale_factor=2)), ((2, 3, 6), dict(size=4)),
    ((2, 3, 5, 4), dict(scale_factor=1.7, mode="bilinear")),
    ((2, 3, 5, 4), dict(size=(3, 8), mode="bilinear", align_corners=True)),
    ((2, 3, 5, 4), dict(size=(8, 3), mode="bilinear", align_corners=False)),
    ((2, 3, 5), dict(scale_factor=3, mode="linear")), ((2, 3, 5), dict(size=9, mode="linear", align_corners=True)),
], ids=str)
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_interpolate_and_upsample(device, shape, kwargs, dtype, tol):
    compare(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), [data(shape, dtype)], device, tol)


def test_interpolate_gradcheck_and_errors(device):
    x = st.tensor(data((1, 2, 3, 4), np.float64), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a: F.interpolate(a, scale_factor=1.5, mode="bilinear"), [x])
    with pytest.raises(ValueError, match="'bilinear'.*\\(1, 2, 3\\)"):
        F.interpolate(st.ones(1, 2, 3, device=device), size=4, mode="bilinear")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)


@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_pixel_shuffle_and_unshuffle(device, dtype, tol):
    compare(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), [data((2, 8, 3, 2), dtype)], device, tol)
    compare(nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2), [data((2, 3, 4, 6), dtype)], device, tol)
    x = st.tensor(data((5, 12, 3, 4), dtype), device=device)
    np.testing.assert_array_equal(to_numpy(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2)), to_numpy(x))


@pytest.mark.parametrize("shapes", [((4, 3), (4, 5)), ((2, 4, 3), (2, 4, 5))], ids=str)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype, tol", FLOATS)
def test_bilinear(device, shapes, bias, dtype, tol):
    ours, theirs = paired(nn.Bilinear(3, 5, 2, bias=bias), torch.nn.Bilinear(3, 5, 2, bias=bias), device, dtype)
    compare(ours, theirs, [data(s, dtype, i) for i, s in enumerate(shapes)], device, tol)
