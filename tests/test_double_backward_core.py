"""Second derivatives of reductions, shape, indexing, selection and product ops: each op's gradient, computed with
``create_graph=True``, differentiated again and compared with PyTorch's (``torch.autograd.grad`` twice), and checked
by ``gradgradcheck`` in float64; complex gradients against PyTorch's conjugate-Wirtinger convention."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sparktensor as st
from backends import BACKENDS, to_numpy
from sparktensor.ops.shape import concat, permute_dims


# ----- input domains -----
def anywhere(rng, shape):
    return rng.standard_normal(shape)


def distinct(rng, shape):
    """Values at least 0.15 apart: no ties within finite-difference steps (max, sort, topk)."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) * 0.15


def with_zeros(rng, shape):
    """A zero in the first row and two in the second: prod's gradient at zeros."""
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x[0, 1] = x[1, 0] = x[1, 2] = 0.0
    return x


def tied(rng, shape):
    """Small integers, so that maxima repeat (amax spreads the gradient, max(dim) gives it to one index)."""
    return rng.integers(0, 3, shape).astype(np.float64)


def _index(rows):
    return np.asarray(rows, dtype=np.int64)


ROWS = _index([[0, 0], [3, 1], [2, 2]])  # gather/scatter index for a (3, 4) input along dim 1, with repeats
PICK = _index([2, 0, 2, 1])  # an integer-array index with a repeat


def _t(index):
    return torch.as_tensor(index)


def _on(x, index):
    """``index`` as a tensor on the device of ``x``."""
    return st.tensor(index, device=x.device)


def _assigned(x, s, xp_index=(slice(1, None), np.array([2, 0]))):
    """``y = x * 1; y[1:, [2, 0]] = s * s``: item assignment inside the graph."""
    y = x * 1.0
    y[xp_index] = s * s
    return y


def _torch_assigned(x, s):
    y = x * 1.0
    y[1:, torch.tensor([2, 0])] = s * s
    return y


# name: (sparktensor fn, PyTorch fn, input shapes, domain)
CASES = {
    # reductions
    "sum_axes": (lambda x: st.sum(x, axis=(0, 2)), lambda x: x.sum((0, 2)), [(2, 3, 4)], anywhere),
    "sum_keepdims": (lambda x: st.sum(x, axis=1, keepdims=True), lambda x: x.sum(1, keepdim=True), [(3, 4)],
                     anywhere),
    "mean": (lambda x: st.mean(x, axis=1), lambda x: x.mean(1), [(3, 4)], anywhere),
    "var": (lambda x: st.var(x, axis=1, ddof=1), lambda x: x.var(1, correction=1), [(3, 4)], anywhere),
    "var_all": (lambda x: st.var(x, correction=0.0, keepdims=True), lambda x: x.var(correction=0, keepdim=True),
                [(3, 4)], anywhere),
    "std": (lambda x: st.std(x, axis=0, ddof=0), lambda x: x.std(0, correction=0), [(3, 4)], anywhere),
    "amax": (lambda x: st.amax(x, axis=1), lambda x: x.amax(1), [(3, 4)], distinct),
    "amin_axes": (lambda x: st.amin(x, axis=(0, 2)), lambda x: x.amin((0, 2)), [(2, 3, 4)], distinct),
    "amax_ties": (lambda x: st.amax(x, axis=1), lambda x: x.amax(1), [(3, 5)], tied),
    "max_dim": (lambda x: st.max(x, dim=1).values, lambda x: x.max(1).values, [(3, 4)], distinct),
    "max_all_ties": (lambda x: st.max(x), lambda x: x.max(), [(3, 5)], tied),
    "min_dim_ties": (lambda x: st.min(x, dim=0).values, lambda x: x.min(0).values, [(5, 3)], tied),
    "prod": (lambda x: st.prod(x, axis=1), lambda x: x.prod(1), [(3, 4)], anywhere),
    "prod_zeros": (lambda x: st.prod(x, axis=1), lambda x: x.prod(1), [(3, 4)], with_zeros),
    "prod_all_zeros": (lambda x: st.prod(x), lambda x: x.prod(), [(2, 3)], with_zeros),
    "softmax": (lambda x: st.softmax(x, axis=1), lambda x: x.softmax(1), [(3, 4)], anywhere),
    "log_softmax": (lambda x: st.log_softmax(x, axis=0), lambda x: x.log_softmax(0), [(3, 4)], anywhere),
    "logsumexp": (lambda x: st.logsumexp(x, axis=1), lambda x: x.logsumexp(1), [(3, 4)], anywhere),
    "logsumexp_keepdims": (lambda x: st.logsumexp(x, axis=(0, 1), keepdims=True),
                           lambda x: x.logsumexp((0, 1), keepdim=True), [(3, 4)], anywhere),
    "norm": (lambda x: st.norm(x, dim=1), lambda x: x.norm(dim=1), [(3, 4)], anywhere),
    # 0-d: NumPy computes these as scalars, and the saved output must still be found under create_graph
    "softmax_0d": (lambda x: st.softmax(x), lambda x: x.softmax(-1), [()], anywhere),
    "log_softmax_0d": (lambda x: st.log_softmax(x), lambda x: x.log_softmax(-1), [()], anywhere),
    "logsumexp_0d": (lambda x: st.logsumexp(x), lambda x: x.logsumexp(0), [()], anywhere),
    "norm_0d": (lambda x: st.norm(x * x), lambda x: (x * x).norm(), [()], anywhere),
    "norm_all": (lambda x: st.norm(x), lambda x: x.norm(), [(3, 4)], anywhere),
    # shape
    "reshape": (lambda x: st.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), [(3, 4)], anywhere),
    "transpose": (lambda x: st.transpose(x), lambda x: x.permute(2, 1, 0), [(2, 3, 4)], anywhere),
    "permute": (lambda x: st.permute(x, (2, 0, 1)), lambda x: x.permute(2, 0, 1), [(2, 3, 4)], anywhere),
    "swapaxes": (lambda x: st.swapaxes(x, 0, 2), lambda x: x.transpose(0, 2), [(2, 3, 4)], anywhere),
    "broadcast_to": (lambda x: st.broadcast_to(x, (2, 3, 4)), lambda x: x.expand(2, 3, 4), [(3, 1)], anywhere),
    "squeeze": (lambda x: st.squeeze(x, 1), lambda x: x.squeeze(1), [(3, 1, 2)], anywhere),
    "expand_dims": (lambda x: st.expand_dims(x, 1), lambda x: x.unsqueeze(1), [(3, 2)], anywhere),
    "flatten": (lambda x: st.flatten(x, 1), lambda x: x.flatten(1), [(2, 3, 2)], anywhere),
    "cat": (lambda x, y: st.cat([x, y], axis=1), lambda x, y: torch.cat([x, y], 1), [(3, 4), (3, 2)], anywhere),
    "stack": (lambda x, y: st.stack([x, y], axis=1), lambda x, y: torch.stack([x, y], 1), [(3, 4), (3, 4)],
              anywhere),
    "split": (lambda x: st.split(x, 2, axis=1)[1], lambda x: x.split(2, 1)[1], [(3, 4)], anywhere),
    "chunk": (lambda x: st.chunk(x, 2, axis=0)[1], lambda x: x.chunk(2, 0)[1], [(3, 4)], anywhere),
    "pad_constant": (lambda x: st.pad(x, ((1, 0), (2, 1))), lambda x: F.pad(x, (2, 1, 1, 0)), [(3, 4)], anywhere),
    "pad_reflect": (lambda x: st.pad(x, ((0, 0), (2, 1)), mode="reflect"),
                    lambda x: F.pad(x[None], (2, 1), mode="reflect")[0], [(3, 4)], anywhere),
    "pad_edge": (lambda x: st.pad(x, ((0, 0), (2, 3)), mode="edge"),
                 lambda x: F.pad(x[None], (2, 3), mode="replicate")[0], [(3, 4)], anywhere),
    "pad_wrap": (lambda x: st.pad(x, ((0, 0), (2, 1)), mode="wrap"),
                 lambda x: F.pad(x[None], (2, 1), mode="circular")[0], [(3, 4)], anywhere),
    "flip": (lambda x: st.flip(x, 1), lambda x: x.flip(1), [(3, 4)], anywhere),
    "repeat": (lambda x: st.repeat(x, 2, axis=1), lambda x: x.repeat_interleave(2, 1), [(3, 4)], anywhere),
    "repeat_counts": (lambda x: st.repeat(x, [1, 0, 3], axis=0),
                      lambda x: x.repeat_interleave(torch.tensor([1, 0, 3]), 0), [(3, 4)], anywhere),
    "tile": (lambda x: st.tile(x, (2, 1, 2)), lambda x: x.repeat(2, 1, 2), [(3, 4)], anywhere),
    "concat_flattened": (lambda x, y: concat([x, y], axis=None), lambda x, y: torch.cat([x.reshape(-1), y.reshape(-1)]),
                         [(3, 4), (2,)], anywhere),
    "permute_dims": (lambda x: permute_dims(x, (1, 2, 0)), lambda x: x.permute(1, 2, 0), [(2, 3, 4)], anywhere),
    # indexing
    "getitem_basic": (lambda x: x[1:, None, ::2], lambda x: x[1:, None, ::2], [(3, 4)], anywhere),
    "getitem_ellipsis": (lambda x: x[..., 1], lambda x: x[..., 1], [(2, 3, 4)], anywhere),
    "getitem_int_array": (lambda x: x[PICK], lambda x: x[_t(PICK)], [(3, 4)], anywhere),
    "getitem_multi_axis": (lambda x: x[PICK, 1:, PICK[:1]], lambda x: x[_t(PICK), 1:, _t(PICK[:1])], [(3, 4, 3)],
                           anywhere),
    "getitem_mask": (lambda x: x[np.array([[True, False, True, False]] * 3)],
                     lambda x: x[torch.tensor([[True, False, True, False]] * 3)], [(3, 4)], anywhere),
    "setitem": (_assigned, _torch_assigned, [(3, 4), (2, 2)], anywhere),
    # selection
    "gather": (lambda x: st.gather(x, 1, _on(x, ROWS)), lambda x: x.gather(1, _t(ROWS)), [(3, 4)], anywhere),
    "scatter": (lambda x, s: st.scatter(x, 1, _on(x, [[0, 1], [3, 2], [2, 0]]), s),
                lambda x, s: x.scatter(1, _t(_index([[0, 1], [3, 2], [2, 0]])), s), [(3, 4), (3, 2)], anywhere),
    "scatter_add": (lambda x, s: st.scatter_add(x, 1, _on(x, ROWS), s), lambda x, s: x.scatter_add(1, _t(ROWS), s),
                    [(3, 4), (3, 2)], anywhere),
    "index_select": (lambda x: st.index_select(x, 1, _on(x, PICK[:3])), lambda x: x.index_select(1, _t(PICK[:3])),
                     [(3, 4)], anywhere),
    "masked_fill": (lambda x: st.masked_fill(x, _on(x, np.eye(3, 4, dtype=bool)), 2.0),
                    lambda x: x.masked_fill(torch.eye(3, 4, dtype=torch.bool), 2.0), [(3, 4)], anywhere),
    "sort_array_api": (lambda x: st.sort(x, axis=0, descending=True, stable=True),
                       lambda x: x.sort(stable=True, dim=0, descending=True).values, [(3, 4)], distinct),
    "sort": (lambda x: st.sort(x, dim=1, descending=True).values, lambda x: x.sort(1, descending=True).values,
             [(3, 4)], distinct),
    "topk": (lambda x: st.topk(x, 2, dim=0).values, lambda x: x.topk(2, 0).values, [(3, 4)], distinct),
    "cumsum": (lambda x: st.cumsum(x, axis=1), lambda x: x.cumsum(1), [(3, 4)], anywhere),
    # products
    "matmul": (lambda x, y: x @ y, lambda x, y: x @ y, [(3, 4), (4, 2)], anywhere),
    "matmul_batched": (lambda x, y: x @ y, lambda x, y: x @ y, [(2, 3, 4), (4, 2)], anywhere),
    "matmul_broadcast": (lambda x, y: x @ y, lambda x, y: x @ y, [(2, 1, 3, 4), (3, 4, 2)], anywhere),
    "matmul_vector": (lambda x, y: x @ y, lambda x, y: x @ y, [(4,), (2, 4, 3)], anywhere),
    "matmul_vectors": (lambda x, y: st.matmul(x, y), lambda x, y: x @ y, [(4,), (4,)], anywhere),
    "einsum": (lambda x, y: st.einsum("bij,bjk->bik", x, y), lambda x, y: torch.einsum("bij,bjk->bik", x, y),
               [(2, 3, 4), (2, 4, 2)], anywhere),
    "einsum_diagonal": (lambda x: st.einsum("ii->i", x), lambda x: torch.einsum("ii->i", x), [(3, 3)], anywhere),
    "einsum_sum": (lambda x, y: st.einsum("ij,j", x, y), lambda x, y: torch.einsum("ij,j", x, y), [(3, 4), (4,)],
                   anywhere),
    "dot": (lambda x, y: st.dot(x, y), lambda x, y: x @ y, [(3, 4), (4,)], anywhere),
    "outer": (lambda x, y: st.outer(x, y), lambda x, y: torch.outer(x, y), [(3,), (4,)], anywhere),
    "bmm": (lambda x, y: st.bmm(x, y), lambda x, y: torch.bmm(x, y), [(2, 3, 4), (2, 4, 2)], anywhere),
    "addmm": (lambda b, x, y: st.addmm(b, x, y, beta=0.5, alpha=2.0),
              lambda b, x, y: torch.addmm(b, x, y, beta=0.5, alpha=2.0), [(2,), (3, 4), (4, 2)], anywhere),
    # conversion
    "clone": (lambda x: st.clone(x), lambda x: x.clone(), [(3, 4)], anywhere),
    "astype_complex": (lambda x: st.real(x.astype(st.complex128) * (1 + 2j)),
                       lambda x: (x.to(torch.complex128) * (1 + 2j)).real, [(3, 4)], anywhere),
}


def _inputs(name, device, seed=0):
    fn, torch_fn, shapes, domain = CASES[name]
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(domain(rng, s)) for s in shapes]  # a 0-d shape too stays a float64 array
    return fn, torch_fn, arrays, [st.tensor(a, device=device, requires_grad=True) for a in arrays]


def _second_derivatives(fn, xs, cotangent, directions):
    """``d<grad(fn)(xs; u), v> / d(xs, u)``: the gradient (create_graph) paired with ``v``, differentiated."""
    y = fn(*xs)
    gs = st.autograd.grad(y, xs, cotangent, create_graph=True, allow_unused=True, materialize_grads=True)
    first = [to_numpy(g) for g in gs]
    pairing = sum((g * v).sum() for g, v in zip(gs, directions))
    if not pairing.requires_grad:  # a gradient that depends on neither xs nor u cannot happen for these ops
        raise AssertionError("the gradient was not recorded under create_graph")
    second = st.autograd.grad(pairing, list(xs) + [cotangent], allow_unused=True, materialize_grads=True)
    return first, [to_numpy(g) for g in second]


def _torch_second_derivatives(torch_fn, arrays, u, vs):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tu = torch.tensor(u, requires_grad=True)
    gs = torch.autograd.grad(torch_fn(*ts), ts, tu, create_graph=True, allow_unused=True, materialize_grads=True)
    pairing = sum((g * torch.tensor(v)).sum() for g, v in zip(gs, vs))
    second = torch.autograd.grad(pairing, ts + [tu], allow_unused=True, materialize_grads=True)
    return [g.detach().numpy() for g in gs], [g.numpy() for g in second]


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_pytorch(device, name):
    fn, torch_fn, arrays, xs = _inputs(name, device)
    rng = np.random.default_rng(1)
    y = fn(*xs)
    u = rng.standard_normal(y.shape)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    first, second = _second_derivatives(fn, xs, st.tensor(u, device=device, requires_grad=True),
                                        [st.tensor(v, device=device) for v in vs])
    torch_first, torch_second = _torch_second_derivatives(torch_fn, arrays, u, vs)
    for ours, theirs in zip(first + second, torch_first + torch_second):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", sorted(n for n in CASES if not n.endswith("ties")))  # ties: not differentiable
def test_gradgradcheck(device, name):
    fn, _, _, xs = _inputs(name, device)
    assert st.autograd.gradgradcheck(fn, xs)


def test_gradients_of_the_fast_path_are_arrays_and_unchanged_by_create_graph():
    """Without create_graph the backward formulas get and give raw arrays; with it, the same numbers as Tensors."""
    rng = np.random.default_rng(2)
    x = st.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = st.tensor(rng.standard_normal((4, 5)), requires_grad=True)

    def loss(x, y):
        return st.logsumexp(st.cat([x @ y, x[PICK[:3]] @ y], axis=1), axis=1).sum() + st.prod(x, axis=0).sum()

    plain = st.autograd.grad(loss(x, y), [x, y])
    recorded = st.autograd.grad(loss(x, y), [x, y], create_graph=True)
    assert all(not g.requires_grad for g in plain) and all(g.requires_grad for g in recorded)
    for a, b in zip(plain, recorded):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-13, atol=1e-14)


# ----- complex: PyTorch's conjugate Wirtinger convention -----
def _complex(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


COMPLEX_CASES = {
    "sum": (lambda x: st.sum(x, axis=1), lambda x: x.sum(1), [(3, 4)]),
    "mean": (lambda x: st.mean(x, axis=(0, 1)), lambda x: x.mean((0, 1)), [(3, 4)]),
    "prod": (lambda x: st.prod(x, axis=1), lambda x: x.prod(1), [(3, 4)]),
    "var": (lambda x: st.var(x, axis=1, ddof=1), lambda x: x.var(1, correction=1), [(3, 4)]),
    "norm": (lambda x: st.norm(x, dim=1), lambda x: x.norm(dim=1), [(3, 4)]),
    "matmul": (lambda x, y: x @ y, lambda x, y: x @ y, [(2, 3, 4), (4, 2)]),
    "matmul_vectors": (lambda x, y: st.matmul(x, y), lambda x, y: x @ y, [(4,), (4,)]),
    "einsum": (lambda x, y: st.einsum("ij,jk->ik", x, y), lambda x, y: torch.einsum("ij,jk->ik", x, y),
               [(3, 4), (4, 2)]),
    "reshape": (lambda x: st.reshape(x, (2, 6)), lambda x: x.reshape(2, 6), [(3, 4)]),
    "getitem": (lambda x: x[PICK, 1:], lambda x: x[_t(PICK), 1:], [(3, 4)]),
    "cat": (lambda x, y: st.cat([x, y], axis=0), lambda x, y: torch.cat([x, y], 0), [(3, 4), (2, 4)]),
    "cumsum": (lambda x: st.cumsum(x, axis=0), lambda x: x.cumsum(0), [(3, 4)]),
}


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", sorted(COMPLEX_CASES))
def test_complex_gradients_match_pytorch(device, name):
    fn, torch_fn, shapes = COMPLEX_CASES[name]
    rng = np.random.default_rng(3)
    arrays = [_complex(rng, s) for s in shapes]
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    y = fn(*xs)
    u = _complex(rng, y.shape) if y.dtype.kind == "c" else rng.standard_normal(y.shape)
    grads = st.autograd.grad(y, xs, st.tensor(u, device=device))
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch.autograd.grad(torch_fn(*ts), ts, torch.tensor(u))
    for g, e in zip(grads, expected):
        assert g.dtype == np.complex128
        np.testing.assert_allclose(to_numpy(g), e.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(COMPLEX_CASES))
def test_complex_second_derivatives_match_pytorch(name):
    fn, torch_fn, shapes = COMPLEX_CASES[name]
    rng = np.random.default_rng(4)
    arrays = [_complex(rng, s) for s in shapes]
    xs = [st.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*xs)
    u = _complex(rng, y.shape) if y.dtype.kind == "c" else rng.standard_normal(y.shape)  # var, norm: real
    vs = [_complex(rng, a.shape) for a in arrays]
    cotangent = st.tensor(u, requires_grad=True)
    gs = st.autograd.grad(fn(*xs), xs, cotangent, create_graph=True)
    pairing = st.real(sum((g * st.tensor(v)).sum() for g, v in zip(gs, vs)))
    ours = st.autograd.grad(pairing, xs + [cotangent], allow_unused=True, materialize_grads=True)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tu = torch.tensor(u, requires_grad=True)
    tgs = torch.autograd.grad(torch_fn(*ts), ts, tu, create_graph=True)
    tpairing = sum((g * torch.tensor(v)).sum() for g, v in zip(tgs, vs)).real
    theirs = torch.autograd.grad(tpairing, ts + [tu], allow_unused=True, materialize_grads=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(a), b.resolve_conj().numpy(), rtol=1e-10, atol=1e-12)


def test_complex_gradgradcheck_of_matmul_and_prod():
    rng = np.random.default_rng(5)
    x = st.tensor(_complex(rng, (3, 4)), requires_grad=True)
    y = st.tensor(_complex(rng, (4, 2)), requires_grad=True)
    assert st.autograd.gradgradcheck(lambda x, y: x @ y, [x, y])
    assert st.autograd.gradgradcheck(lambda x: st.prod(x, axis=1), [x])


def test_scatter_of_a_0d_tensor_value_gets_the_gradient_of_every_written_place():
    index = [[0, 1], [3, 2], [2, 0]]
    rng = np.random.default_rng(6)
    a, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x, v = st.tensor(a, requires_grad=True), st.tensor(np.array(1.5), requires_grad=True)
    (st.scatter(x * x, 1, st.tensor(index), value=v * v) * st.tensor(w)).sum().backward()
    tx, tv = torch.tensor(a, requires_grad=True), torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    ((tx * tx).scatter(1, torch.tensor(index), (tv * tv).expand(3, 2)) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(to_numpy(v.grad), tv.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
    assert st.autograd.gradgradcheck(lambda x, v: st.scatter(x * x, 1, st.tensor(index), value=v * v),
                                     [st.tensor(a, requires_grad=True), st.tensor(np.array(1.5), requires_grad=True)])
