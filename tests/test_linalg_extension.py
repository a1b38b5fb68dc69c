"""``st.linalg``, the Array API's linear algebra extension: values against NumPy and PyTorch, gradients against
PyTorch (real and complex), ``gradcheck`` in float64, the NumPy protocol path, and the errors for bad input."""
import math

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

DTYPES = [pytest.param(np.float64, id="real"), pytest.param(np.complex128, id="complex")]


# ----- inputs -----
def rand(rng, shape, dtype=np.float64):
    """Standard normal values; both parts random for a complex dtype."""
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def well_conditioned(rng, shape, dtype=np.float64):
    """Random square matrices kept away from singular (a multiple of the identity added)."""
    return (rand(rng, shape, dtype) + 3 * np.eye(shape[-1])).astype(dtype)


def positive_definite(rng, shape, dtype=np.float64):
    """Random Hermitian positive-definite matrices."""
    a = rand(rng, shape, dtype)
    return (a @ np.conj(np.swapaxes(a, -1, -2)) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def hermitian(rng, shape, dtype=np.float64):
    """Random Hermitian matrices (distinct eigenvalues with probability one)."""
    a = rand(rng, shape, dtype)
    return (a + np.conj(np.swapaxes(a, -1, -2))) / 2


# ----- comparisons -----
def as_tuple(out):
    return tuple(out) if isinstance(out, tuple) else (out,)


def compare_with_torch(device, rng, st_fn, torch_fn, arrays, cotangents=None, rtol=1e-7, atol=1e-9):
    """Values of ``st_fn`` and ``torch_fn`` on ``arrays``, and their gradients for the same random cotangents."""
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, touts = as_tuple(st_fn(*xs)), as_tuple(torch_fn(*ts))
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape) and o.device == xs[0].device
        np.testing.assert_allclose(to_numpy(o), t.detach().resolve_conj().numpy(), rtol=rtol, atol=atol)
    if cotangents is None:
        cotangents = [rand(rng, o.shape, o.dtype) for o in outs]
    differentiable = [i for i, o in enumerate(outs) if o.requires_grad]
    grads = st.autograd.grad([outs[i] for i in differentiable], xs,
                             [st.tensor(cotangents[i], device=device) for i in differentiable])
    tgrads = torch.autograd.grad([touts[i] for i in differentiable], ts,
                                 [torch.tensor(cotangents[i]) for i in differentiable])
    for x, g, tg in zip(xs, grads, tgrads):
        assert g.shape == x.shape and g.dtype == x.dtype
        np.testing.assert_allclose(to_numpy(g), tg.resolve_conj().numpy(), rtol=1e-6, atol=1e-8)
    return xs


def check_gradients(device, fn, arrays, **kwargs):
    """``gradcheck`` of ``fn`` at ``arrays`` (float64 or complex128)."""
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert st.autograd.gradcheck(fn, xs, **kwargs)


# ----- the standard's names and types -----
def test_every_function_of_the_standard_is_there():
    for name in st.linalg.STANDARD_NAMES:
        assert callable(getattr(st.linalg, name)), name
    for name in ("tensordot", "vecdot", "matrix_transpose"):
        assert getattr(st, name) is getattr(st.linalg, name)
    assert set(st.linalg.STANDARD_NAMES) <= set(st.linalg.__all__)
    assert all(callable(getattr(st.linalg, name)) for name in st.linalg.__all__)


def test_result_types_are_the_standards_named_tuples(rng):
    x = st.tensor(positive_definite(rng, (3, 3)))
    assert st.linalg.eigh(x)._fields == ("eigenvalues", "eigenvectors")
    assert st.linalg.qr(x)._fields == ("Q", "R")
    assert st.linalg.slogdet(x)._fields == ("sign", "logabsdet")
    assert st.linalg.svd(x)._fields == ("U", "S", "Vh")
    assert type(st.linalg.svd(x)).__name__ == "SVDResult"


# ----- values against NumPy -----
@pytest.mark.parametrize("dtype", DTYPES)
def test_values_match_numpy(device, rng, dtype):
    a = well_conditioned(rng, (2, 4, 4), dtype)
    p = positive_definite(rng, (2, 4, 4), dtype)
    b = rand(rng, (2, 4, 3), dtype)
    t = lambda v: st.tensor(v, device=device)  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(to_numpy(got), want, rtol=1e-8, atol=1e-10)  # noqa: E731
    close(st.linalg.inv(t(a)), np.linalg.inv(a))
    close(st.linalg.solve(t(a), t(b)), np.linalg.solve(a, b))
    close(st.linalg.det(t(a)), np.linalg.det(a))
    close(st.linalg.slogdet(t(a)).logabsdet, np.linalg.slogdet(a).logabsdet)
    close(st.linalg.slogdet(t(a)).sign, np.linalg.slogdet(a).sign)
    close(st.linalg.cholesky(t(p)), np.linalg.cholesky(p))
    close(st.linalg.cholesky(t(p), upper=True), np.linalg.cholesky(p, upper=True))
    close(st.linalg.eigvalsh(t(p)), np.linalg.eigvalsh(p))
    close(st.linalg.eigh(t(p)).eigenvalues, np.linalg.eigh(p).eigenvalues)
    close(st.linalg.svdvals(t(b)), np.linalg.svdvals(b))
    close(st.linalg.pinv(t(b)), np.linalg.pinv(b, rtol=None))
    close(st.linalg.matrix_power(t(a), 3), np.linalg.matrix_power(a, 3))
    close(st.linalg.matrix_power(t(a), -2), np.linalg.matrix_power(a, -2))
    close(st.linalg.matrix_power(t(a), 0), np.broadcast_to(np.eye(4), a.shape))
    close(st.linalg.trace(t(b), offset=1), np.linalg.trace(b, offset=1))
    close(st.linalg.diagonal(t(b), offset=-1), np.linalg.diagonal(b, offset=-1))
    close(st.linalg.matrix_transpose(t(b)), np.linalg.matrix_transpose(b))
    close(st.linalg.matmul(t(a), t(b)), a @ b)
    close(st.linalg.tensordot(t(a), t(b), axes=([1, 0], [1, 0])), np.tensordot(a, b, axes=([1, 0], [1, 0])))
    close(st.linalg.vecdot(t(a), t(b[..., :1]), axis=-2), np.linalg.vecdot(a, b[..., :1], axis=-2))
    close(st.linalg.outer(t(a[0, 0]), t(b[0, 0])), np.linalg.outer(a[0, 0], b[0, 0]))
    close(st.linalg.cross(t(b), t(a[..., :3]), axis=-1), np.linalg.cross(b, a[..., :3]))
    for ord in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        close(st.linalg.matrix_norm(t(b), ord=ord), np.linalg.matrix_norm(b, ord=ord))
    for ord in (2, 1, 0, 3, 0.5, -1, np.inf, -np.inf):
        close(st.linalg.vector_norm(t(b), axis=(0, 2), ord=ord), np.linalg.vector_norm(b, axis=(0, 2), ord=ord))
    assert to_numpy(st.linalg.matrix_rank(t(b))).tolist() == np.linalg.matrix_rank(b).tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_decompositions_reconstruct_their_input(device, rng, dtype):
    for shape in ((3, 5, 3), (2, 3, 5)):
        a = rand(rng, shape, dtype)
        x = st.tensor(a, device=device)
        q, r = st.linalg.qr(x)
        np.testing.assert_allclose(to_numpy(q @ r), a, atol=1e-10)
        assert np.allclose(np.tril(to_numpy(r), -1), 0)
        for full in (True, False):
            u, s, vh = st.linalg.svd(x, full_matrices=full)
            k = min(shape[-2:])
            np.testing.assert_allclose(to_numpy(u)[..., :k] * to_numpy(s)[..., None, :] @ to_numpy(vh)[..., :k, :],
                                       a, atol=1e-10)
            assert u.shape[-1] == (shape[-2] if full else k) and vh.shape[-2] == (shape[-1] if full else k)
    h = hermitian(rng, (2, 4, 4), dtype)
    w, v = st.linalg.eigh(st.tensor(h, device=device))
    np.testing.assert_allclose(to_numpy(v) * to_numpy(w)[..., None, :] @ np.conj(np.swapaxes(to_numpy(v), -1, -2)),
                               h, atol=1e-10)


def test_qr_complete_and_keepdims_shapes(device, rng):
    x = st.tensor(rand(rng, (5, 3)), device=device)
    q, r = st.linalg.qr(x, mode="complete")
    assert q.shape == (5, 5) and r.shape == (5, 3)
    assert st.linalg.matrix_norm(st.tensor(rand(rng, (2, 3, 4))), keepdims=True, ord=2).shape == (2, 1, 1)
    assert st.linalg.vector_norm(st.tensor(rand(rng, (2, 3, 4))), axis=1, keepdims=True).shape == (2, 1, 4)
    assert st.linalg.vector_norm(st.tensor(rand(rng, (2, 3, 4)))).shape == ()


def test_solve_takes_a_vector_only_when_one_dimensional(device, rng):
    a, b = well_conditioned(rng, (2, 3, 3)), rand(rng, (3,))
    got = st.linalg.solve(st.tensor(a, device=device), st.tensor(b, device=device))
    np.testing.assert_allclose(to_numpy(got), np.linalg.solve(a, b))
    assert got.shape == (2, 3)
    b2 = rand(rng, (3, 2))  # matrices (M, K), broadcast against the batch of a
    np.testing.assert_allclose(to_numpy(st.linalg.solve(st.tensor(a), st.tensor(b2))), np.linalg.solve(a, b2))


# ----- gradients against PyTorch -----
@pytest.mark.parametrize("dtype", DTYPES)
def test_inv_solve_det_slogdet_gradients_match_torch(device, rng, dtype):
    a = well_conditioned(rng, (2, 3, 3), dtype)
    compare_with_torch(device, rng, st.linalg.inv, torch.linalg.inv, [a])
    compare_with_torch(device, rng, st.linalg.det, torch.linalg.det, [a])
    compare_with_torch(device, rng, lambda x: tuple(st.linalg.slogdet(x)), lambda x: tuple(torch.linalg.slogdet(x)),
                       [a])
    for b in (rand(rng, (2, 3, 2), dtype), rand(rng, (3, 4), dtype), rand(rng, (3,), dtype)):
        compare_with_torch(device, rng, st.linalg.solve, torch.linalg.solve, [a, b])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True], ids=["lower", "upper"])
def test_cholesky_gradient_matches_torch(device, rng, dtype, upper):
    compare_with_torch(device, rng, lambda x: st.linalg.cholesky(x, upper=upper),
                       lambda x: torch.linalg.cholesky(x, upper=upper), [positive_definite(rng, (2, 3, 3), dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [3, 2, 1, 0, -1, -3])
def test_matrix_power_gradient_matches_torch(device, rng, dtype, n):
    compare_with_torch(device, rng, lambda x: st.linalg.matrix_power(x, n), lambda x: torch.linalg.matrix_power(x, n),
                       [well_conditioned(rng, (2, 3, 3), dtype) / 3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5)], ids=["tall", "wide"])
def test_pinv_gradient_matches_torch(device, rng, dtype, shape):
    compare_with_torch(device, rng, st.linalg.pinv, torch.linalg.pinv, [rand(rng, shape, dtype)])


def aligned_phases(mine, theirs):
    """The unit numbers d (one per column) with ``mine ~ theirs * d``: the gauge each library chose."""
    overlap = (np.conj(theirs) * mine).sum(axis=-2)
    return overlap / np.abs(overlap)


def phase_free(rng, vectors, dtype, rows=False):
    """A random cotangent for ``vectors`` (columns, or rows of Vh) whose loss ignores each vector's phase, as
    PyTorch asks of complex decompositions."""
    g = rand(rng, vectors.shape, dtype)
    if np.dtype(dtype).kind != "c":
        return g
    if rows:
        inner = (vectors * np.conj(g)).sum(axis=-1, keepdims=True)
        return g + 1j * inner.imag * vectors
    inner = (np.conj(vectors) * g).sum(axis=-2, keepdims=True)
    return g - 1j * inner.imag * vectors


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh_gradient_matches_torch(device, rng, dtype):
    h = hermitian(rng, (2, 4, 4), dtype)
    w, v = st.linalg.eigh(st.tensor(h))
    d = aligned_phases(v.numpy(), torch.linalg.eigh(torch.tensor(h)).eigenvectors.numpy())
    cotangents = [rand(rng, w.shape), phase_free(rng, v.numpy(), dtype)]

    def torch_eigh(x):
        tw, tv = torch.linalg.eigh(x)
        return tw, tv * torch.tensor(d)[..., None, :]
    compare_with_torch(device, rng, lambda x: tuple(st.linalg.eigh(x)), torch_eigh, [h], cotangents)
    compare_with_torch(device, rng, st.linalg.eigvalsh, torch.linalg.eigvalsh, [h])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 3), (2, 3, 5)], ids=["tall", "square", "wide"])
@pytest.mark.parametrize("full_matrices", [False, True], ids=["reduced", "full"])
def test_svd_gradient_matches_torch(device, rng, dtype, shape, full_matrices):
    a = rand(rng, shape, dtype)
    u, s, vh = st.linalg.svd(st.tensor(a), full_matrices=full_matrices)
    tu, _, tvh = torch.linalg.svd(torch.tensor(a), full_matrices=full_matrices)
    k = s.shape[-1]
    d = aligned_phases(u.numpy()[..., :k], tu.numpy()[..., :k])
    gu, gvh = phase_free(rng, u.numpy()[..., :k], dtype), rand(rng, vh.numpy()[..., :k, :].shape, dtype)
    if np.dtype(dtype).kind == "c":  # the phase that U's cotangent leaves, Vh's must not bring back
        gvh = phase_free(rng, vh.numpy()[..., :k, :], dtype, rows=True)
    # beyond the first k, full matrices hold an arbitrary basis (PyTorch differentiates only the first k too)
    dd = d if np.dtype(dtype).kind == "c" else d.real

    def st_svd(x):
        u, s, vh = st.linalg.svd(x, full_matrices=full_matrices)
        return u[..., :k], s, vh[..., :k, :]

    def torch_svd(x):
        tu, ts, tvh = torch.linalg.svd(x, full_matrices=full_matrices)
        return tu[..., :k] * torch.tensor(dd)[..., None, :], ts, tvh[..., :k, :] * torch.tensor(dd).conj()[..., :, None]
    compare_with_torch(device, rng, st_svd, torch_svd, [a], [gu, rand(rng, s.shape), gvh])
    compare_with_torch(device, rng, st.linalg.svdvals, torch.linalg.svdvals, [a])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 3), (2, 3, 5)], ids=["tall", "square", "wide"])
def test_qr_gradient_matches_torch(device, rng, dtype, shape):
    a = rand(rng, shape, dtype)
    q = st.linalg.qr(st.tensor(a)).Q.numpy()
    signs = aligned_phases(q, torch.linalg.qr(torch.tensor(a)).Q.numpy())

    def torch_qr(x):
        tq, tr = torch.linalg.qr(x)
        d = torch.tensor(signs.real if np.dtype(dtype).kind != "c" else signs)
        return tq * d[..., None, :], tr * d.conj()[..., :, None]
    compare_with_torch(device, rng, lambda x: tuple(st.linalg.qr(x)), torch_qr, [a])


MATRIX_ORDS = ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf]
VECTOR_ORDS = [2, 1, 0, 3, 0.5, -1, math.inf, -math.inf]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
def test_matrix_norm_gradients_match_torch(device, rng, dtype, ord):
    compare_with_torch(device, rng, lambda x: st.linalg.matrix_norm(x, ord=ord, keepdims=True),
                       lambda x: torch.linalg.matrix_norm(x, ord=ord, keepdim=True), [rand(rng, (2, 3, 4), dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord", [o for o in VECTOR_ORDS if o != 0], ids=str)
def test_vector_norm_gradients_match_torch(device, rng, dtype, ord):
    compare_with_torch(device, rng, lambda x: st.linalg.vector_norm(x, axis=(0, 2), ord=ord),
                       lambda x: torch.linalg.vector_norm(x, dim=(0, 2), ord=ord), [rand(rng, (2, 3, 4), dtype)])
    compare_with_torch(device, rng, lambda x: st.linalg.vector_norm(x, ord=ord),
                       lambda x: torch.linalg.vector_norm(x, ord=ord), [rand(rng, (5,), dtype)])


def test_vector_norm_of_order_zero_has_a_zero_gradient(device, rng):
    x = st.tensor(rand(rng, (3, 4)), device=device, requires_grad=True)
    y = st.linalg.vector_norm(x, axis=1, ord=0)
    np.testing.assert_array_equal(to_numpy(y), [4, 4, 4])
    g, = st.autograd.grad([y], [x], [st.ones(3, dtype=np.float64, device=device)])
    assert g.shape == x.shape and not to_numpy(g).any()


@pytest.mark.parametrize("ord", [2, 1, 3, math.inf, -math.inf], ids=str)
def test_vector_norm_subgradients_at_zero_and_ties_match_torch(device, rng, ord):
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [-3.0, 3.0, 1.0]])  # a zero vector, tied magnitudes
    compare_with_torch(device, rng, lambda t: st.linalg.vector_norm(t, axis=1, ord=ord),
                       lambda t: torch.linalg.vector_norm(t, dim=1, ord=ord), [x])


def test_matrix_norm_ties_share_the_gradient_as_in_torch(device, rng):
    x = np.array([[1.0, -2.0], [-1.0, 2.0]])  # equal column sums and equal row sums
    for ord in (1, -1, math.inf, -math.inf):
        compare_with_torch(device, rng, lambda t: st.linalg.matrix_norm(t, ord=ord),
                           lambda t: torch.linalg.matrix_norm(t, ord=ord), [x])


@pytest.mark.parametrize("dtype", DTYPES)
def test_product_gradients_match_torch(device, rng, dtype):
    r = lambda *shape: rand(rng, shape, dtype)  # noqa: E731
    compare_with_torch(device, rng, lambda a, b: st.linalg.cross(a, b, axis=-2),
                       lambda a, b: torch.linalg.cross(a, b, dim=-2), [r(2, 3, 4), r(1, 3, 4)])
    compare_with_torch(device, rng, lambda a, b: st.linalg.vecdot(a, b, axis=-1),
                       lambda a, b: torch.linalg.vecdot(a, b, dim=-1), [r(2, 1, 4), r(3, 4)])
    compare_with_torch(device, rng, lambda a, b: st.linalg.tensordot(a, b, axes=([2, 0], [0, 1])),
                       lambda a, b: torch.tensordot(a, b, dims=([2, 0], [0, 1])), [r(2, 3, 4), r(4, 2, 5)])
    compare_with_torch(device, rng, lambda a, b: st.linalg.tensordot(a, b, axes=1),
                       lambda a, b: torch.tensordot(a, b, dims=1), [r(2, 3), r(3, 4)])
    compare_with_torch(device, rng, st.linalg.outer, torch.outer, [r(3), r(4)])
    compare_with_torch(device, rng, st.linalg.matrix_transpose, lambda a: a.mT, [r(2, 3, 4)])
    compare_with_torch(device, rng, st.linalg.matmul, torch.matmul, [r(2, 3, 4), r(4, 2)])
    for offset in (0, 1, -2):
        compare_with_torch(device, rng, lambda a: st.linalg.trace(a, offset=offset),
                           lambda a: torch.diagonal(a, offset, -2, -1).sum(-1), [r(2, 3, 4)])
        compare_with_torch(device, rng, lambda a: st.linalg.diagonal(a, offset=offset),
                           lambda a: torch.diagonal(a, offset, -2, -1), [r(2, 3, 4)])


# ----- NumPy's functions on tensors -----
def graph_and_gradient(y, x):
    """The gradient of ``sum(Re(y))`` with respect to ``x`` (y must carry the graph)."""
    assert isinstance(y, st.Tensor) and y.requires_grad and y.grad_fn is not None
    g, = st.autograd.grad([st.real(y).sum() if y.dtype.kind == "c" else y.sum()], [x])
    return to_numpy(g)


NUMPY_CALLS = {
    "inv": (np.linalg.inv, st.linalg.inv, "square"),
    "solve": (lambda a: np.linalg.solve(a, a[0, 0]), lambda a: st.linalg.solve(a, a[0, 0]), "square"),
    "det": (np.linalg.det, st.linalg.det, "square"),
    "slogdet": (lambda a: np.linalg.slogdet(a).logabsdet, lambda a: st.linalg.slogdet(a).logabsdet, "square"),
    "cholesky": (np.linalg.cholesky, st.linalg.cholesky, "spd"),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), lambda a: st.linalg.cholesky(a, upper=True),
                       "spd"),
    "qr_r": (lambda a: np.abs(np.linalg.qr(a, mode="r")), lambda a: abs(st.linalg.qr(a).R), "any"),
    "svd": (lambda a: np.linalg.svd(a)[1], lambda a: st.linalg.svd(a)[1], "any"),
    "svd_values": (lambda a: np.linalg.svd(a, compute_uv=False), st.linalg.svdvals, "any"),
    "eigh": (lambda a: np.linalg.eigh(a).eigenvalues, lambda a: st.linalg.eigh(a).eigenvalues, "spd"),
    "eigvalsh_upper": (lambda a: np.linalg.eigvalsh(a, UPLO="U"), st.linalg.eigvalsh, "spd"),
    "pinv": (np.linalg.pinv, lambda a: st.linalg.pinv(a, rtol=1e-15), "any"),
    "pinv_rtol": (lambda a: np.linalg.pinv(a, rtol=None), st.linalg.pinv, "any"),
    "norm": (np.linalg.norm, lambda a: st.linalg.vector_norm(a), "any"),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc", axis=(2, 1)),
                 lambda a: st.linalg.matrix_norm(st.linalg.matrix_transpose(a), ord="nuc"), "any"),
    "norm_axis": (lambda a: np.linalg.norm(a, 3, axis=1, keepdims=True),
                  lambda a: st.linalg.vector_norm(a, ord=3, axis=1, keepdims=True), "any"),
    "matrix_power": (lambda a: np.linalg.matrix_power(a, -3), lambda a: st.linalg.matrix_power(a, -3), "square"),
    "trace": (lambda a: np.trace(a, 1, 2, 0), lambda a: st.linalg.trace(st.permute(a, 1, 2, 0), offset=1),
              "any"),
    "diagonal": (lambda a: np.diagonal(a, -1, 1, 2), lambda a: st.linalg.diagonal(a, offset=-1), "any"),
    "cross": (lambda a: np.cross(a, a * 2 + 1, axisa=1, axisb=1, axisc=0),
              lambda a: st.permute(st.linalg.cross(a, a * 2 + 1, axis=1), 1, 0, 2), "any"),
    "tensordot": (lambda a: np.tensordot(a, a, axes=([0, 1], [0, 1])),
                  lambda a: st.linalg.tensordot(a, a, axes=([0, 1], [0, 1])), "any"),
    "vecdot": (lambda a: np.vecdot(a, a[0]), lambda a: st.linalg.vecdot(a, a[0]), "any"),
    "linalg_vecdot": (lambda a: np.linalg.vecdot(a, a, axis=0), lambda a: st.linalg.vecdot(a, a, axis=-3), "any"),
    "matrix_norm": (lambda a: np.linalg.matrix_norm(a, ord=-2), lambda a: st.linalg.matrix_norm(a, ord=-2), "any"),
    "vector_norm": (lambda a: np.linalg.vector_norm(a, ord=1), lambda a: st.linalg.vector_norm(a, ord=1), "any"),
    "svdvals": (np.linalg.svdvals, st.linalg.svdvals, "any"),
    "outer": (lambda a: np.linalg.outer(a[0, 0], a[1, 1]), lambda a: st.linalg.outer(a[0, 0], a[1, 1]), "any"),
    "linalg_cross": (lambda a: np.linalg.cross(a, a * 2 + 1), lambda a: st.linalg.cross(a, a * 2 + 1), "square"),
    "linalg_tensordot": (lambda a: np.linalg.tensordot(a, a.T, axes=1), lambda a: st.linalg.tensordot(a, a.T, axes=1),
                         "any"),
    "linalg_trace": (lambda a: np.linalg.trace(a, offset=-1), lambda a: st.linalg.trace(a, offset=-1), "any"),
    "linalg_diagonal": (lambda a: np.linalg.diagonal(a, offset=1), lambda a: st.linalg.diagonal(a, offset=1),
                        "any"),
    "matrix_transpose": (np.linalg.matrix_transpose, st.linalg.matrix_transpose, "any"),
    "matmul": (lambda a: np.linalg.matmul(a, a[0]), lambda a: a @ a[0], "square"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NUMPY_CALLS))
def test_numpy_functions_keep_the_graph(device, rng, name, dtype):
    np_call, st_call, kind = NUMPY_CALLS[name]
    if dtype == np.complex128 and name in ("cross", "linalg_cross"):
        pytest.skip("the same formula; the complex case is covered by the direct call's tests")
    shape = (2, 3, 3) if kind != "any" else (2, 3, 4)
    a = {"square": well_conditioned, "spd": positive_definite, "any": rand}[kind](rng, shape, dtype)
    x = st.tensor(a, device=device, requires_grad=True)
    y = np_call(x)
    np.testing.assert_allclose(to_numpy(y), np_call(a), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(graph_and_gradient(y, x), graph_and_gradient(st_call(x), x), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("args", [dict(), dict(ord="fro"), dict(ord=2), dict(ord=-np.inf), dict(ord=1, axis=0),
                                  dict(axis=(0, 1), keepdims=True), dict(ord=np.inf, axis=(1, 0))], ids=str)
def test_numpy_norm_follows_numpys_rules(device, rng, args):
    a = rand(rng, (3, 4))
    x = st.tensor(a, device=device, requires_grad=True)
    y = np.linalg.norm(x, **args)
    assert y.shape == np.shape(np.linalg.norm(a, **args))
    np.testing.assert_allclose(to_numpy(y), np.linalg.norm(a, **args), rtol=1e-10)
    assert st.autograd.gradcheck(lambda t: np.linalg.norm(t, **args), [x])


def test_numpy_results_are_named_tuples(rng):
    x = st.tensor(positive_definite(rng, (3, 3)), requires_grad=True)
    assert np.linalg.eigh(x)._fields == ("eigenvalues", "eigenvectors")
    assert np.linalg.svd(x)._fields == ("U", "S", "Vh")
    assert np.linalg.slogdet(x)._fields == ("sign", "logabsdet")
    assert np.linalg.qr(x)._fields == ("Q", "R")
    assert to_numpy(np.linalg.matrix_rank(x)) == 3


# ----- errors -----
@pytest.mark.parametrize("fn", [st.linalg.inv, st.linalg.det, st.linalg.slogdet, st.linalg.cholesky, st.linalg.eigh,
                                st.linalg.eigvalsh, lambda x: st.linalg.matrix_power(x, 2)],
                         ids=["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "matrix_power"])
def test_non_square_input_is_refused_with_its_shape(fn):
    with pytest.raises(np.linalg.LinAlgError, match=r"square.*\(2, 3, 4\)"):
        fn(st.ones((2, 3, 4), dtype=np.float64))
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(3,\)"):
        fn(st.ones(3, dtype=np.float64))


def test_singular_and_indefinite_matrices_raise_numpys_error_naming_the_shape():
    singular = st.tensor(np.ones((2, 3, 3)))
    with pytest.raises(np.linalg.LinAlgError, match=r"inv: Singular matrix.*\(2, 3, 3\)"):
        st.linalg.inv(singular)
    with pytest.raises(np.linalg.LinAlgError, match=r"solve: Singular matrix.*\(2, 3, 3\)"):
        st.linalg.solve(singular, st.tensor(np.ones((3, 1))))
    with pytest.raises(np.linalg.LinAlgError, match=r"cholesky: .*positive definite.*\(3, 3\)"):
        st.linalg.cholesky(st.tensor(-np.eye(3)))


def test_solve_names_both_shapes_when_they_do_not_match():
    a = st.tensor(np.eye(3))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(4, 2\)"):
        st.linalg.solve(a, st.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(2,\)"):
        st.linalg.solve(a, st.tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"batch axes.*\(2, 3, 3\).*\(4, 3, 1\)"):
        st.linalg.solve(st.tensor(np.ones((2, 3, 3))), st.tensor(np.ones((4, 3, 1))))


def test_bad_arguments_are_named():
    x = st.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="ord"):
        st.linalg.matrix_norm(x, ord=3)
    with pytest.raises(ValueError, match="'fro'"):
        st.linalg.vector_norm(x, ord="fro")
    with pytest.raises(ValueError, match="mode"):
        st.linalg.qr(x, mode="raw")
    with pytest.raises(ValueError, match=r"3 elements.*\(2, 3, 4\)"):
        st.linalg.cross(x, x)
    with pytest.raises(ValueError, match=r"axis 2 of shape \(2, 3, 4\) \(4\).*axis 0 of shape \(2, 3, 4\) \(2\)"):
        st.linalg.tensordot(x, x, axes=1)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(3,\)"):
        st.linalg.vecdot(x, st.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="1-D"):
        st.linalg.outer(x, x)
    with pytest.raises(TypeError, match="int"):
        st.linalg.matrix_power(st.tensor(np.eye(2)), 1.5)


def test_qr_complete_of_a_tall_matrix_is_not_differentiable():
    x = st.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    q, r = st.linalg.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="mode='complete'.*4 x 3"):
        q.sum().backward()


def test_a_complex_loss_that_depends_on_the_phase_of_vectors_raises_as_in_torch(rng):
    h = hermitian(rng, (3, 3), np.complex128)
    x = st.tensor(h, requires_grad=True)
    with pytest.raises(RuntimeError, match="phase"):
        st.real(st.linalg.eigh(x).eigenvectors).sum().backward()
    with pytest.raises(RuntimeError, match="phase"):
        st.real(st.linalg.svd(x).U).sum().backward()
    t = torch.tensor(h, requires_grad=True)
    with pytest.raises(RuntimeError, match="specified up to multiplication by"):
        torch.linalg.eigh(t).eigenvectors.real.sum().backward()


def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(device, rng):
    """Through the SVD, as PyTorch's, where the inverse does not exist (rank n-1: non-zero cofactors)."""
    rank_two = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], [[2.0, 1.0, 0.0], [1, 3, 1], [0, 1, 2]]])
    compare_with_torch(device, rng, st.linalg.det, torch.linalg.det, [rank_two])
    compare_with_torch(device, rng, st.linalg.det, torch.linalg.det, [np.ones((3, 3))])
    check_gradients(device, st.linalg.det, [rank_two])
    assert st.autograd.gradgradcheck(st.linalg.det, [st.tensor(rank_two, device=device, requires_grad=True)])
    check_gradients(device, st.linalg.det, [np.ones((2, 2)) * (1 + 1j)])  # cofactors [[1, -1], [-1, 1]] (1 - 1j)


def test_repeated_eigenvalues_give_what_torch_gives(device):
    """Eigenvectors of a repeated eigenvalue are not unique, so their gradient is nan in both libraries; the
    eigenvalues alone keep a gradient."""
    a = np.diag([1.0, 1.0, 2.0])
    x = st.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        g, = st.autograd.grad([(st.linalg.eigh(x).eigenvectors ** 3).sum()], [x])
    tg, = torch.autograd.grad([(torch.linalg.eigh(t).eigenvectors ** 3).sum()], [t])
    np.testing.assert_array_equal(np.isnan(to_numpy(g)), np.isnan(tg.numpy()))
    assert np.isnan(to_numpy(g)).any()
    compare_with_torch(device, np.random.default_rng(0), st.linalg.eigvalsh, torch.linalg.eigvalsh, [a])
    compare_with_torch(device, np.random.default_rng(0), st.linalg.svdvals, torch.linalg.svdvals, [a])


@pytest.mark.parametrize("dtype", [np.float32, np.complex64], ids=["float32", "complex64"])
def test_single_precision_stays_single(device, rng, dtype):
    a = well_conditioned(rng, (2, 3, 3), dtype)
    x = st.tensor(a, device=device, requires_grad=True)
    outs = [st.linalg.inv(x), st.linalg.det(x), st.linalg.cholesky(st.tensor(positive_definite(rng, (3, 3), dtype))),
            st.linalg.svdvals(x), st.linalg.matrix_norm(x, ord="nuc"), st.linalg.vector_norm(x), st.linalg.pinv(x)]
    real = np.float32
    for out, want in zip(outs, [dtype, dtype, dtype, real, real, real, dtype]):
        assert out.dtype == want
    np.testing.assert_allclose(to_numpy(outs[0]), np.linalg.inv(a), rtol=1e-4, atol=1e-5)
    g, = st.autograd.grad([st.real(st.linalg.inv(x)).sum() + st.linalg.vector_norm(x)], [x])
    assert g.dtype == dtype


def test_rtol_per_matrix(device, rng):
    a = rand(rng, (2, 4, 3))
    a[1, :, 2] = a[1, :, 0] + 1e-7 * a[1, :, 2]  # a nearly dependent column: cut by the looser tolerance only
    rtol = np.array([1e-12, 1e-3])
    x = st.tensor(a, device=device)
    np.testing.assert_allclose(to_numpy(st.linalg.pinv(x, rtol=st.tensor(rtol, device=device))),
                               np.linalg.pinv(a, rtol=rtol), rtol=1e-8, atol=1e-10)
    assert to_numpy(st.linalg.matrix_rank(x, rtol=st.tensor(rtol, device=device))).tolist() == [3, 2]
    assert to_numpy(st.linalg.matrix_rank(x)).tolist() == np.linalg.matrix_rank(a).tolist() == [3, 3]
