"""The tensor methods that exist only in PyTorch (``torch_methods.py``): spelled-out operators, fused updates,
predicates, picks along a dim and ``retain_grad``, each against PyTorch on the same inputs (values, dtypes,
indices and gradients), the differentiable ones with a float64 gradient check."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

MASK = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])


def distinct(rng, shape):
    """Values at least 0.1 apart, so orders have no ties within finite-difference steps."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) * 0.1 + 0.05


# name: (sparktensor fn, torch fn, input shapes)
CASES = {
    "add_alpha": (lambda x, y: x.add(y, alpha=-2.5), lambda x, y: x.add(y, alpha=-2.5), [(3, 4), (4,)]),
    "sub_alpha": (lambda x, y: x.sub(y, alpha=0.5), lambda x, y: x.sub(y, alpha=0.5), [(3, 4), (3, 1)]),
    "subtract": (lambda x, y: x.subtract(y), lambda x, y: x.subtract(y), [(3, 4), (3, 4)]),
    "multiply": (lambda x, y: x.mul(y).multiply(y), lambda x, y: x.mul(y).multiply(y), [(3, 4), (4,)]),
    "true_divide": (lambda x, y: x.true_divide(y * y + 1), lambda x, y: x.true_divide(y * y + 1), [(3, 4), (3, 4)]),
    # quotients within (-1, 1), away from the jumps of the rounding: the gradient through a rounded quotient is 0
    "div_trunc": (lambda x, y: (x * 0.1).div(y * y + 1, rounding_mode="trunc") + x,
                  lambda x, y: (x * 0.1).div(y * y + 1, rounding_mode="trunc") + x, [(3, 4), (3, 4)]),
    "div_floor": (lambda x, y: (x * 0.1).div(y * y + 1, rounding_mode="floor") * x,
                  lambda x, y: (x * 0.1).div(y * y + 1, rounding_mode="floor") * x, [(3, 4), (3, 4)]),
    "lerp": (lambda x, y: x.lerp(y, 0.3), lambda x, y: x.lerp(y, 0.3), [(3, 4), (3, 4)]),
    "lerp_tensor_weight": (lambda x, y, w: x.lerp(y, w.sigmoid()), lambda x, y, w: x.lerp(y, w.sigmoid()),
                           [(3, 4), (3, 4), (4,)]),
    "addcmul": (lambda x, a, b: x.addcmul(a, b, value=-0.7), lambda x, a, b: x.addcmul(a, b, value=-0.7),
                [(3, 4), (3, 4), (4,)]),
    "addcdiv": (lambda x, a, b: x.addcdiv(a, b * b + 1, value=2.0), lambda x, a, b: x.addcdiv(a, b * b + 1, value=2.0),
                [(3, 4), (3, 4), (3, 4)]),
    "lerp_": (lambda x, y: (x * 1).lerp_(y, 0.25), lambda x, y: (x * 1).lerp_(y, 0.25), [(3, 4), (3, 4)]),
    "addcmul_": (lambda x, a, b: (x * 1).addcmul_(a, b, value=0.5), lambda x, a, b: (x * 1).addcmul_(a, b, value=0.5),
                 [(3, 4), (3, 4), (3, 4)]),
    "addcdiv_": (lambda x, a, b: (x * 1).addcdiv_(a, b * b + 1, value=-0.1),
                 lambda x, a, b: (x * 1).addcdiv_(a, b * b + 1, value=-0.1), [(3, 4), (3, 4), (3, 4)]),
    "rsqrt": (lambda x: (x * x + 0.5).rsqrt(), lambda x: (x * x + 0.5).rsqrt(), [(3, 4)]),
    "frac": (lambda x: (x * 3).frac(), lambda x: (x * 3).frac(), [(3, 4)]),
    "exp2": (lambda x: x.exp2(), lambda x: x.exp2(), [(3, 4)]),
    "logit": (lambda x: x.sigmoid().logit(), lambda x: x.sigmoid().logit(), [(3, 4)]),
    "logit_eps": (lambda x: (x * 0.5 + 0.5).logit(eps=0.2), lambda x: (x * 0.5 + 0.5).logit(eps=0.2), [(3, 4)]),
    "deg2rad_rad2deg": (lambda x: x.deg2rad() + x.rad2deg(), lambda x: x.deg2rad() + x.rad2deg(), [(3, 4)]),
    "nan_to_num": (lambda x: x.nan_to_num(), lambda x: x.nan_to_num(), [(3, 4)]),
    "sigmoid_exp_in_place": (lambda x: (x * 1).sigmoid_().mul(2).exp_(), lambda x: (x * 1).sigmoid_().mul(2).exp_(),
                             [(3, 4)]),
    "mm": (lambda x, y: x.mm(y), lambda x, y: x.mm(y), [(3, 4), (4, 2)]),
    "mv": (lambda x, v: x.mv(v), lambda x, v: x.mv(v), [(3, 4), (4,)]),
    "outer": (lambda u, v: u.outer(v), lambda u, v: u.outer(v), [(3,), (4,)]),
    "masked_select": (lambda x: x.masked_select(st.tensor(MASK, device=x.device)),
                      lambda x: x.masked_select(torch.tensor(MASK)), [(3, 4)]),
    "masked_select_broadcast": (lambda x: x.masked_select(st.tensor(MASK[0], device=x.device)),
                                lambda x: x.masked_select(torch.tensor(MASK[0])), [(3, 4)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1), lambda x: x.repeat_interleave(2, dim=1), [(3, 4)]),
    "cummax": (lambda x: x.cummax(1).values, lambda x: x.cummax(1).values, [(3, 4)]),
    "cummin": (lambda x: x.cummin(0)[0], lambda x: x.cummin(0)[0], [(3, 4)]),
    "kthvalue": (lambda x: x.kthvalue(2, dim=1).values, lambda x: x.kthvalue(2, dim=1).values, [(3, 4)]),
    "kthvalue_keepdim": (lambda x: x.kthvalue(3, 0, keepdim=True)[0], lambda x: x.kthvalue(3, 0, keepdim=True)[0],
                         [(3, 4)]),
    "median_dim": (lambda x: x.median(dim=1).values, lambda x: x.median(dim=1).values, [(3, 4)]),
    "median_all": (lambda x: x.median(), lambda x: x.median(), [(3, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_method_matches_torch_and_gradcheck(device, rng, name):
    fn, torch_fn, shapes = CASES[name]
    arrays = [distinct(rng, s) for s in shapes]
    ours = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(*ours), torch_fn(*theirs)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(ty.shape)
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(o.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert st.autograd.gradcheck(fn, [st.tensor(a, device=device, requires_grad=True) for a in arrays])


def both(device, array):
    return st.tensor(array, device=device), torch.tensor(array)


def assert_same(ours, theirs):
    """Equal values and the same dtype (PyTorch's dtype names are NumPy's with a ``torch.`` prefix)."""
    np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_comparisons_and_logical_methods_give_torch_bool_tensors(device, rng):
    (x, tx), (y, ty) = both(device, rng.integers(-3, 4, (3, 4))), both(device, rng.integers(-3, 4, (3, 4)))
    for name in ("eq", "ne", "not_equal", "gt", "greater", "ge", "greater_equal", "lt", "less", "le", "less_equal",
                 "bitwise_and", "bitwise_or", "bitwise_xor"):
        assert_same(getattr(x, name)(y), getattr(tx, name)(ty))
    assert_same(x.gt(0), tx.gt(0))
    assert_same(x.bitwise_not(), tx.bitwise_not())
    p, tp = x > 0, tx > 0
    for name in ("logical_and", "logical_or", "logical_xor"):
        assert_same(getattr(p, name)(y < 1), getattr(tp, name)(ty < 1))
    assert_same(p.logical_not(), tp.logical_not())


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_integer_division_rounding_modes_match_torch_for_every_sign(device, mode):
    a = np.array([[7, -7, 7, -7, 6, -6, 0, 1], [3, -3, 5, -5, 9, -9, 2, -1]])
    b = np.array([[2, 2, -2, -2, 3, 3, 5, -4], [7, 7, -7, -7, 2, -2, 3, 3]])
    (x, tx), (y, ty) = both(device, a), both(device, b)
    assert_same(x.div(y, rounding_mode=mode), tx.div(ty, rounding_mode=mode))
    assert_same(x.div(3, rounding_mode=mode), tx.div(3, rounding_mode=mode))
    f, tf = both(device, a / 2.0)
    assert_same(f.div(y, rounding_mode=mode), tf.div(ty, rounding_mode=mode))
    assert_same(x.floor_divide(y), tx.floor_divide(ty))
    assert_same(x.remainder(y), tx.remainder(ty))


def test_equal_isclose_allclose(device):
    (x, tx) = both(device, np.array([1.0, 2.0, np.nan]))
    (y, ty) = both(device, np.array([1.0, 2.0 + 1e-9, np.nan]))
    assert x.equal(x) is tx.equal(tx) is False  # NaN equals nothing, itself included
    assert x[:2].equal(y[:2]) is tx[:2].equal(ty[:2]) is False
    assert x[:2].equal(x[:2]) is True and x.equal(x[:2]) is False
    assert_same(x.isclose(y), tx.isclose(ty))
    assert_same(x.isclose(y, equal_nan=True), tx.isclose(ty, equal_nan=True))
    assert x.allclose(y, equal_nan=True) is True and x.allclose(y) is False
    assert x.allclose(y, equal_nan=True) == tx.allclose(ty, equal_nan=True)


def test_nan_to_num_matches_torch(device):
    values = np.array([np.nan, np.inf, -np.inf, -1.5, 2.0])
    for dtype in (np.float32, np.float64):
        x, tx = both(device, values.astype(dtype))
        assert_same(x.nan_to_num(), tx.nan_to_num())
        assert_same(x.nan_to_num(1.0, 2.0, -3.0), tx.nan_to_num(1.0, 2.0, -3.0))
        assert_same(x.clone().nan_to_num_(posinf=9.0), tx.clone().nan_to_num_(posinf=9.0))
    ints, tints = both(device, np.array([1, -2]))
    assert_same(ints.nan_to_num(), tints.nan_to_num())


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int8, np.int64, np.float16, np.float32, np.float64,
                                   np.complex64])
def test_kind_predicates_and_sizes_match_torch(device, dtype):
    x, tx = both(device, np.zeros((2, 3), dtype))
    for name in ("is_floating_point", "is_complex", "is_signed", "element_size", "nelement", "ndimension"):
        assert getattr(x, name)() == getattr(tx, name)(), name


def test_nonzero_argwhere_count_nonzero(device, rng):
    x, tx = both(device, rng.integers(-1, 2, (3, 4)))
    assert_same(x.nonzero(as_tuple=False), tx.nonzero())
    assert_same(x.argwhere(), tx.argwhere())
    for ours, theirs in zip(x.nonzero(as_tuple=True), tx.nonzero(as_tuple=True)):
        assert_same(ours, theirs)
    assert_same(x.count_nonzero(), tx.count_nonzero())
    assert_same(x.count_nonzero(dim=1), tx.count_nonzero(dim=1))
    with pytest.raises(TypeError, match="as_tuple=False.*as_tuple=True"):
        x.nonzero()


def test_cummax_cummin_indices_with_ties_and_nan(device):
    values = np.array([[1.0, 3.0, 3.0, 2.0, np.nan, 5.0, np.nan, 0.0], [2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 3.0, 3.0]])
    x, tx = both(device, values)
    for name in ("cummax", "cummin"):
        for dim in (0, 1, -1):
            ours, theirs = getattr(x, name)(dim), getattr(tx, name)(dim)
            np.testing.assert_array_equal(to_numpy(ours.values), theirs.values.numpy())
            assert_same(ours.indices, theirs.indices)


def test_kthvalue_and_median_indices_and_nan(device, rng):
    x, tx = both(device, distinct(rng, (3, 5)))
    for k in (1, 3, 5):
        ours, theirs = x.kthvalue(k, dim=1), tx.kthvalue(k, dim=1)
        assert_same(ours.values, theirs.values)
        assert_same(ours.indices, theirs.indices)
    even, teven = both(device, np.array([4.0, 1.0, 3.0, 2.0]))
    assert_same(even.median(), teven.median())  # the lower middle element, 2.0 (NumPy's median says 2.5)
    nans, tnans = both(device, np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 3.0, 2.0, 1.0]]))
    ours, theirs = nans.median(dim=1), tnans.median(dim=1)
    np.testing.assert_array_equal(to_numpy(ours.values), theirs.values.numpy())
    assert_same(ours.indices, theirs.indices)
    assert np.isnan(to_numpy(nans.median())) and np.isnan(tnans.median().item())
    assert_same(nans.median(dim=0, keepdim=True).values, tnans.median(dim=0, keepdim=True).values)


def test_retain_grad_keeps_and_accumulates_a_non_leaf_gradient(device, rng):
    x, tx = (st.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True),)[0], None
    tx = torch.tensor(to_numpy(x), requires_grad=True)
    y, ty = x * 2, tx * 2
    y.retain_grad()
    ty.retain_grad()
    assert y.retains_grad and ty.retains_grad and not (x * 3).retains_grad
    for _ in range(2):  # gradients accumulate, as a leaf's do
        (y * y).sum().backward(retain_graph=True)
        (ty * ty).sum().backward(retain_graph=True)
        np.testing.assert_allclose(to_numpy(y.grad), ty.grad.numpy())
    z = x * 3
    z.sum().backward()
    assert z.grad is None  # without retain_grad a non-leaf keeps nothing
    x.retain_grad()  # a leaf keeps its gradient anyway: nothing to do
    with pytest.raises(RuntimeError, match="does not require grad"):
        st.tensor([1.0], device=device).retain_grad()


def test_bad_arguments_name_the_problem(device):
    x = st.ones(3, 4, device=device)
    with pytest.raises(ValueError, match="rounding_mode"):
        x.div(x, rounding_mode="round")
    with pytest.raises(ValueError, match=r"mm: .*\(4,\)"):
        x.mm(st.ones(4, device=device))
    with pytest.raises(ValueError, match="mv"):
        x.mv(x)
    with pytest.raises(ValueError, match="outer: .*flattens"):
        x.outer(x)
    with pytest.raises(ValueError, match="k=5 is out of range"):
        x.kthvalue(5, dim=1)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.cummax(2)
    with pytest.raises(TypeError, match="bool"):
        x.masked_select(st.ones(3, 4, device=device))
    with pytest.raises(ValueError, match="empty"):
        st.ones(0, device=device).median()
