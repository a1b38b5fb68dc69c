"""Products: matmul (NumPy's 1-D and batch rules), einsum, dot, outer.

Each case runs three ways: forward against NumPy, float64 ``gradcheck``, and
values and gradients against PyTorch.
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


def check_op(device, rng, fn, shapes, np_fn, torch_fn=None, dtypes=None):
    """``fn`` on tensors of ``shapes`` against ``np_fn`` (values), gradcheck, and ``torch_fn`` (values, gradients)."""
    dtypes = dtypes or [np.float64] * len(shapes)
    arrays = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    y = fn(*xs)
    expected = np_fn(*arrays)
    assert y.shape == np.shape(expected) and y.dtype == np.result_type(*dtypes) and y.device == xs[0].device
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-12)
    if all(d == np.float64 for d in dtypes):
        assert st.autograd.gradcheck(fn, xs)
        assert st.autograd.gradgradcheck(fn, xs)
    if torch_fn is not None:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        ty = torch_fn(*ts)
        np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-5, atol=1e-12)
        g = rng.standard_normal(y.shape)
        y.backward(st.tensor(g, dtype=y.dtype, device=device))
        ty.backward(torch.tensor(g, dtype=ty.dtype))
        for x, t in zip(xs, ts):
            assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
            np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-5, atol=1e-10)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((1, 2, 3), (4, 3, 2)),
    ((3,), (2, 3, 4)),
    ((2, 2, 3), (3,)),
    ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("x_shape, y_shape", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_follows_numpy_rules(device, rng, x_shape, y_shape):
    check_op(device, rng, lambda x, y: x @ y, [x_shape, y_shape], np.matmul, torch.matmul)


@pytest.mark.parametrize("fn", [st.matmul, lambda x, y: x.matmul(y)], ids=["function", "method"])
def test_matmul_function_and_method(device, rng, fn):
    check_op(device, rng, fn, [(4, 2, 3), (3, 2)], np.matmul, torch.matmul)


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32), (np.float32, np.float32)])
def test_matmul_mixed_dtypes_promote_and_keep_gradient_dtypes(device, rng, dtypes):
    # PyTorch does not promote in matmul: promote by hand, its gradients still come back in each input's dtype
    check_op(device, rng, lambda x, y: x @ y, [(2, 3), (3, 4)], np.matmul,
             lambda a, b: torch.matmul(a.double(), b.double()) if a.dtype != b.dtype else a @ b, dtypes=list(dtypes))


def test_matmul_with_numpy_array_on_the_left(device, rng):
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal((3, 4))
    x = st.tensor(b, device=device, requires_grad=True)
    if device != "cpu":  # a NumPy array lives on the CPU: mixing it with a GPU tensor is refused
        with pytest.raises(RuntimeError, match="cpu"):
            a @ x
        return
    y = a @ x
    assert isinstance(y, st.Tensor)
    np.testing.assert_allclose(to_numpy(y), a @ b)
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), a.T @ np.ones((2, 4)))
    assert st.autograd.gradcheck(lambda x: a @ x, [x])


def test_matmul_with_integer_tensor_operand(device, rng):
    a = rng.integers(-3, 3, (2, 3))
    b = rng.standard_normal((3, 2))
    x = st.tensor(b, device=device, requires_grad=True)
    y = st.tensor(a, device=device) @ x
    np.testing.assert_allclose(to_numpy(y), a @ b)
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), a.T @ np.ones((2, 2)))


@pytest.mark.parametrize("x_shape, y_shape, pattern", [
    ((2, 3), (4, 5), r"\(2, 3\) and \(4, 5\)"),
    ((3,), (4,), r"\(3,\) and \(4,\)"),
    ((2, 3), (2,), r"\(2, 3\) and \(2,\)"),
    ((2, 2, 3), (3, 3, 4), r"\(2, 2, 3\) and \(3, 3, 4\)"),
    ((), (3,), r"\(\) and \(3,\)"),
])
def test_matmul_shape_mismatch_names_both_shapes(device, x_shape, y_shape, pattern):
    x, y = st.ones(x_shape, device=device), st.ones(y_shape, device=device)
    with pytest.raises(ValueError, match=pattern):
        x @ y


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,i->", [(3,), (3,)]),
    ("ij->i", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ba,ab", [(2, 3), (3, 2)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("bij,bkj->bik", [(2, 1, 3), (2, 4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (2, 3, 4)]),
    ("...ij,...jk", [(2, 2, 3), (3, 4)]),
    ("...i,...i->...", [(2, 3), (3,)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij,k->k", [(2, 3), (4,)]),
    ("ij,k->ik", [(2, 3), (4,)]),
    ("ijk,k->i", [(2, 3, 4), (4,)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("bii->b", [(2, 3, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("b i j, b j k -> b i k", [(2, 2, 3), (2, 3, 4)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUMS, ids=[f"{s}:{sh}" for s, sh in EINSUMS])
def test_einsum_matches_numpy_gradcheck_and_torch(device, rng, subscripts, shapes):
    check_op(device, rng, lambda *xs: st.einsum(subscripts, *xs), shapes,
             lambda *a: np.einsum(subscripts, *a), lambda *t: torch.einsum(subscripts, *t))


def test_einsum_operand_without_grad_and_mixed_dtypes(device, rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 4))
    x = st.tensor(a, device=device, requires_grad=True)
    y = st.einsum("ij,jk->ik", x, st.tensor(b, device=device))
    assert y.dtype == st.float64
    y.sum().backward()
    assert x.grad.dtype == st.float32
    np.testing.assert_allclose(to_numpy(x.grad), np.ones((2, 4)) @ b.T, rtol=1e-6)


@pytest.mark.parametrize("subscripts, shapes, pattern", [
    ("ij,jk->ik", [(2, 3)], "2 operand subscripts for 1 operands"),
    ("ijk->i", [(2, 3)], "'ijk' do not match an operand with 2"),
])
def test_einsum_errors_name_the_problem(device, subscripts, shapes, pattern):
    with pytest.raises(ValueError, match=pattern):
        st.einsum(subscripts, *[st.ones(s, device=device) for s in shapes])


def torch_dot(a, b):
    """``np.dot`` spelled with PyTorch: scalars multiply, else the last axis of a meets the second-to-last of b."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)]))


DOTS = [((), ()), ((), (2, 3)), ((2,), ()), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 3), (3,)), ((3,), (3, 4)),
        ((2, 3, 4), (4,)), ((2, 3, 4), (4, 2)), ((2, 3, 4), (2, 4, 3)), ((4,), (2, 4, 3)), ((2, 3), (2, 3, 2)),
        ((2, 1, 3), (2, 2, 3, 2))]


@pytest.mark.parametrize("x_shape, y_shape", DOTS, ids=[f"{a}.{b}" for a, b in DOTS])
def test_dot_matches_numpy(device, rng, x_shape, y_shape):
    check_op(device, rng, st.dot, [x_shape, y_shape], np.dot, torch_dot)


def test_dot_method(device, rng):
    check_op(device, rng, lambda x, y: x.dot(y), [(3,), (3,)], np.dot, torch.dot)


@pytest.mark.parametrize("x_shape, y_shape", [((3,), (4,)), ((2, 2), (3,)), ((), (2,))])
def test_outer_of_flattened_operands(device, rng, x_shape, y_shape):
    check_op(device, rng, st.outer, [x_shape, y_shape], np.outer,
             lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)))


def test_products_stay_on_the_device(device, rng):
    x = st.tensor(rng.standard_normal((3, 3)), device=device, requires_grad=True)
    y = st.einsum("ij,jk->ik", x @ x, st.dot(x, x)) + st.outer(x[0], x[1])
    assert y.device == x.device and st.get_array_module(y.data) is st.get_array_module(x.data)
    y.sum().backward()
    assert x.grad.device == x.device
