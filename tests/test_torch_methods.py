"""The tensor methods PyTorch code calls: gather/scatter, index_select, masked_fill, sort/topk/argsort, cumsum,
norm, bmm/addmm/baddbmm, one_hot, the new_* constructors and the in-place ops, each against PyTorch on the same
inputs (values and gradients) with a float64 gradient check."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


def distinct(rng, shape):
    """Values at least 0.1 apart, so orders have no ties within finite-difference steps."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) * 0.1


INDEX = np.array([[0, 2, 2], [1, 0, 3]])  # repeats in row 0, so gradients must add up

# name: (sparktensor fn, torch fn, input shapes), the same fn body for both libraries where possible
CASES = {
    "gather_dim1": (lambda x: x.gather(1, st.tensor(INDEX, device=x.device)),
                    lambda x: x.gather(1, torch.tensor(INDEX)), [(2, 4)]),
    "gather_dim0": (lambda x: x.gather(0, st.tensor(INDEX[:, :2] % 2, device=x.device)),
                    lambda x: x.gather(0, torch.tensor(INDEX[:, :2] % 2)), [(3, 4)]),
    "scatter": (lambda x, s: x.scatter(1, st.tensor([[0, 3], [2, 1]], device=x.device), s),
                lambda x, s: x.scatter(1, torch.tensor([[0, 3], [2, 1]]), s), [(2, 4), (2, 2)]),
    "scatter_add": (lambda x, s: x.scatter_add(1, st.tensor(INDEX, device=x.device), s),
                    lambda x, s: x.scatter_add(1, torch.tensor(INDEX), s), [(2, 4), (2, 3)]),
    "index_select": (lambda x: x.index_select(1, st.tensor([3, 0, 3], device=x.device)),
                     lambda x: x.index_select(1, torch.tensor([3, 0, 3])), [(2, 4)]),
    "masked_fill": (lambda x: x.masked_fill(x > 0.05, -1.5), lambda x: x.masked_fill(x > 0.05, -1.5), [(3, 4)]),
    "sort_values": (lambda x: x.sort(dim=1).values, lambda x: x.sort(dim=1).values, [(3, 4)]),
    "sort_descending": (lambda x: x.sort(dim=0, descending=True)[0], lambda x: x.sort(dim=0, descending=True)[0],
                        [(3, 4)]),
    "topk": (lambda x: x.topk(2, dim=1).values, lambda x: x.topk(2, dim=1).values, [(3, 4)]),
    "topk_smallest": (lambda x: x.topk(2, dim=0, largest=False)[0], lambda x: x.topk(2, dim=0, largest=False)[0],
                      [(3, 4)]),
    "cumsum": (lambda x: x.cumsum(dim=1), lambda x: x.cumsum(dim=1), [(3, 4)]),
    "cumsum_3d": (lambda x: st.cumsum(x, dim=-2), lambda x: torch.cumsum(x, dim=-2), [(2, 3, 4)]),
    "norm": (lambda x: x.norm(), lambda x: x.norm(), [(3, 4)]),
    "norm_dim": (lambda x: x.norm(dim=1, keepdim=True), lambda x: x.norm(dim=1, keepdim=True), [(3, 4)]),
    "norm_p1": (lambda x: x.norm(p=1, dim=0), lambda x: x.norm(p=1, dim=0), [(3, 4)]),
    "norm_p3": (lambda x: x.norm(p=3), lambda x: x.norm(p=3), [(3, 4)]),
    "norm_inf": (lambda x: x.norm(p=float("inf"), dim=1), lambda x: x.norm(p=float("inf"), dim=1), [(3, 4)]),
    "bmm": (lambda x, y: x.bmm(y), lambda x, y: x.bmm(y), [(2, 3, 4), (2, 4, 5)]),
    "addmm": (lambda b, x, y: st.addmm(b, x, y, beta=0.5, alpha=2.0),
              lambda b, x, y: torch.addmm(b, x, y, beta=0.5, alpha=2.0), [(5,), (3, 4), (4, 5)]),
    "baddbmm": (lambda b, x, y: b.baddbmm(x, y, alpha=-1.5), lambda b, x, y: b.baddbmm(x, y, alpha=-1.5),
                [(2, 1, 5), (2, 3, 4), (2, 4, 5)]),
    "clamp": (lambda x: x.clamp(min=-0.25, max=0.45), lambda x: x.clamp(min=-0.25, max=0.45), [(3, 4)]),
    "t": (lambda x: x.t() * 2, lambda x: x.t() * 2, [(3, 4)]),
    "expand_as": (lambda x, y: x.expand_as(y) * y, lambda x, y: x.expand_as(y) * y, [(3, 1), (3, 4)]),
    "view_as": (lambda x, y: x.view_as(y) + y, lambda x, y: x.view_as(y) + y, [(3, 4), (4, 3)]),
    "contiguous": (lambda x: x.t().contiguous() * 3, lambda x: x.t().contiguous() * 3, [(3, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_method_matches_torch_and_gradcheck(device, rng, name):
    fn, torch_fn, shapes = CASES[name]
    arrays = [distinct(rng, s) for s in shapes]
    ours = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(ty.shape)
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(o.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert st.autograd.gradcheck(fn, [st.tensor(a, device=device, requires_grad=True) for a in arrays])


def test_sort_and_topk_return_named_tuples_with_torch_indices(device, rng):
    x = distinct(rng, (3, 5))
    for ours, theirs in [(st.tensor(x, device=device).sort(dim=1), torch.tensor(x).sort(dim=1)),
                         (st.sort(st.tensor(x, device=device), dim=0, descending=True),
                          torch.sort(torch.tensor(x), dim=0, descending=True)),
                         (st.tensor(x, device=device).topk(3), torch.tensor(x).topk(3)),
                         (st.topk(st.tensor(x, device=device), 2, dim=0, largest=False),
                          torch.topk(torch.tensor(x), 2, dim=0, largest=False))]:
        values, indices = ours
        assert ours.values is values and ours.indices is indices
        np.testing.assert_array_equal(to_numpy(values), theirs.values.numpy())
        np.testing.assert_array_equal(to_numpy(indices), theirs.indices.numpy())
        assert indices.dtype == np.int64


def test_stable_sort_keeps_ties_in_order_as_torch(device):
    x = np.array([2.0, 1.0, 2.0, 1.0, 3.0, 2.0])
    for descending in (False, True):
        ours = st.tensor(x, device=device).sort(dim=0, descending=descending, stable=True)
        theirs = torch.tensor(x).sort(dim=0, descending=descending, stable=True)
        np.testing.assert_array_equal(to_numpy(ours.indices), theirs.indices.numpy())
        np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).argsort(descending=descending)),
                                      torch.tensor(x).argsort(descending=descending, stable=True).numpy())


def test_sort_without_a_form_raises_naming_both_readings(device):
    x = st.tensor([3.0, 1.0, 2.0], device=device)
    for call in (lambda: x.sort(), lambda: st.sort(x), lambda: x.sort(0)):
        with pytest.raises(TypeError, match=r"axis=.*dim="):
            call()


def test_numpy_sort_forms(device, rng):
    x = distinct(rng, (3, 4))
    np.testing.assert_array_equal(to_numpy(st.sort(st.tensor(x, device=device), axis=0)), np.sort(x, axis=0))
    np.testing.assert_array_equal(to_numpy(st.sort(st.tensor(x, device=device), axis=None)), np.sort(x, axis=None))
    np.testing.assert_array_equal(to_numpy(st.argsort(st.tensor(x, device=device), axis=None)),
                                  np.argsort(x, axis=None))
    t = st.tensor(x, device=device)
    assert t.sort(axis=1) is None  # NumPy's method sorts in place
    np.testing.assert_array_equal(to_numpy(t), np.sort(x, axis=1))


def test_argsort_and_cumsum_agree_with_both_libraries(device, rng):
    x = distinct(rng, (3, 4))
    for dim in (0, 1, -1):
        np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).argsort(dim=dim)),
                                      torch.tensor(x).argsort(dim=dim).numpy())
        np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).argsort(dim)), np.argsort(x, dim))
    np.testing.assert_allclose(to_numpy(st.tensor(x, device=device).cumsum()), np.cumsum(x))
    np.testing.assert_allclose(to_numpy(st.tensor(x, device=device).cumsum(axis=0)), np.cumsum(x, axis=0))
    ints = st.tensor([[1, 2], [3, 4]], device=device).cumsum(dim=1)
    np.testing.assert_array_equal(to_numpy(ints), torch.tensor([[1, 2], [3, 4]]).cumsum(dim=1).numpy())


def test_scatter_value_and_errors(device):
    x = st.zeros(2, 4, device=device)
    index = st.tensor([[1], [3]], device=device)
    ours = x.scatter(1, index, value=2.5)
    theirs = torch.zeros(2, 4).scatter(1, torch.tensor([[1], [3]]), value=2.5)
    np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())
    with pytest.raises(TypeError, match="integers"):
        x.gather(1, st.tensor([[0.0], [1.0]], device=device))
    with pytest.raises(IndexError, match="out of bounds for dim 1 with size 4"):
        x.gather(1, st.tensor([[4], [0]], device=device))
    with pytest.raises(ValueError, match="as many dims"):
        x.gather(1, st.tensor([0, 1], device=device))
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill(st.tensor([[1, 0, 0, 0]] * 2, device=device), 1.0)
    with pytest.raises(ValueError, match="3-D"):
        st.bmm(st.zeros(2, 3, device=device), st.zeros(3, 2, device=device))


def test_masked_fill_with_a_broadcast_mask_and_a_tensor_value(device, rng):
    x = rng.standard_normal((3, 4))
    mask = np.array([True, False, True, False])
    value = st.tensor(0.7, device=device, requires_grad=True)
    tvalue = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ours = st.tensor(x, device=device).masked_fill(st.tensor(mask, device=device), value.double())
    theirs = torch.tensor(x).masked_fill(torch.tensor(mask), tvalue)
    np.testing.assert_allclose(to_numpy(ours), theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(to_numpy(value.grad), tvalue.grad.numpy())


def test_one_hot_matches_torch(device):
    labels = np.array([[0, 2], [1, 4]])
    np.testing.assert_array_equal(to_numpy(F.one_hot(st.tensor(labels, device=device))),
                                  torch.nn.functional.one_hot(torch.tensor(labels)).numpy())
    ours = F.one_hot(st.tensor(labels, device=device), num_classes=7)
    assert ours.dtype == np.int64 and ours.shape == (2, 2, 7)
    np.testing.assert_array_equal(to_numpy(ours),
                                  torch.nn.functional.one_hot(torch.tensor(labels), num_classes=7).numpy())
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.one_hot(st.tensor(labels, device=device), num_classes=3)


def test_new_constructors_type_as_and_counts(device):
    x = st.ones(2, 3, device=device, dtype=st.float64)
    tx = torch.ones(2, 3, dtype=torch.float64)
    for ours, theirs in [(x.new_zeros(4, 1), tx.new_zeros(4, 1)), (x.new_ones((2, 2)), tx.new_ones((2, 2))),
                         (x.new_full((3,), 7.5), tx.new_full((3,), 7.5)),
                         (x.new_zeros(2, dtype=st.int64), tx.new_zeros(2, dtype=torch.int64)),
                         (x.new_tensor([1, 2]), tx.new_tensor([1, 2]))]:
        np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        assert ours.device == x.device
    ints = st.tensor([1, 2], device=device)
    assert ints.type_as(x).dtype == np.float64 and x.type_as(ints).dtype == np.int64
    assert x.numel() == tx.numel() == 6 and x.dim() == tx.dim() == 2
    assert st.tensor([1.0, 2.0]).t().shape == torch.tensor([1.0, 2.0]).t().shape


# ----- in place, as PyTorch: recorded on computed tensors, guarded by the version counter -----
INPLACE = {
    "add_": (lambda y, w: y.add_(w, alpha=2.0)),
    "sub_": (lambda y, w: y.sub_(w)),
    "mul_": (lambda y, w: y.mul_(w)),
    "div_": (lambda y, w: y.div_(w + 3.0)),
    "copy_": (lambda y, w: y.copy_(w * 2)),
    "fill_": (lambda y, w: y.fill_(w.sum())),
    "zero_": (lambda y, w: y.zero_().add_(w)),
    "clamp_": (lambda y, w: y.clamp_(min=w - 1.0, max=w)),
    "masked_fill_": (lambda y, w: y.masked_fill_(y > 0.1, w[0, 0])),
    "iadd": (lambda y, w: y.__iadd__(w)),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_op_on_a_computed_tensor_matches_torch_gradients(device, rng, name):
    op = INPLACE[name]
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    sx, sw = (st.tensor(a, device=device, requires_grad=True) for a in (x, w))
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    sy, ty = sx.exp() * 1.0, tx.exp() * 1.0  # exp saves its output, so the copy must not disturb it
    assert op(sy, sw) is sy
    op(ty, tw)
    np.testing.assert_allclose(to_numpy(sy), ty.detach().numpy(), rtol=1e-12)
    upstream = rng.standard_normal((3, 4))
    (sy * st.tensor(upstream, device=device)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(to_numpy(sx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(sw.grad), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_inplace_op_bumps_the_version_so_ops_that_saved_the_tensor_raise(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    z = (y * y).sum()  # saves y
    y.mul_(3)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    tz = (ty * ty).sum()
    ty.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tz.backward()


def test_inplace_on_a_leaf_that_requires_grad_raises_and_works_under_no_grad(device):
    w = st.ones(3, device=device, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.clamp_(0, 0.5), lambda: w.copy_(st.zeros(3))):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            op()
    version = w._version[0]
    with st.no_grad():
        w.mul_(2).add_(1, alpha=-0.5).clamp_(max=1.25)
    assert w._version[0] == version + 3
    tw = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        tw.mul_(2).add_(1, alpha=-0.5).clamp_(max=1.25)
    np.testing.assert_array_equal(to_numpy(w), tw.detach().numpy())
    assert w.is_leaf and w.requires_grad


def test_inplace_into_a_plain_tensor_joins_the_graph_and_refuses_wrong_dtype(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    buf = st.zeros(2, device=device)
    buf.add_(w * 3)
    buf.sum().backward()
    np.testing.assert_allclose(to_numpy(w.grad), [3.0, 3.0])
    with pytest.raises(TypeError, match="float"):
        st.tensor([1, 2], device=device).add_(0.5)
    with pytest.raises(RuntimeError, match="shape"):
        st.zeros(2, device=device).add_(st.zeros(3, 2, device=device))


# ----- files and interchange -----
def test_torch_as_tensor_takes_tensors_of_every_rank(device):
    for value in (3.5, [1.0, 2.0], [[1, 2], [3, 4]]):
        t = st.tensor(value, device=device)
        theirs = torch.as_tensor(t.cpu())
        np.testing.assert_array_equal(theirs.numpy(), np.asarray(value))
        assert tuple(theirs.shape) == t.shape
    assert torch.as_tensor(st.tensor(2.0).expand(3)).tolist() == [2.0, 2.0, 2.0]


def test_loading_a_pytorch_checkpoint_is_refused_before_unpickling(tmp_path):
    for name, save in (("model.pt", lambda p: torch.save({"w": torch.ones(2)}, p)),
                       ("legacy.pth", lambda p: torch.save({"w": torch.ones(2)}, p, _use_new_zipfile_serialization=False))):
        path = tmp_path / name
        save(path)
        with pytest.raises(ValueError, match=r"PyTorch checkpoint.*never loads.*safetensors"):
            st.load(path)
    st.save({"w": st.ones(2)}, tmp_path / "ok.npz")  # an npz is a zip too, and still loads
    np.testing.assert_array_equal(st.load(tmp_path / "ok.npz")["w"].numpy(), [1.0, 1.0])
