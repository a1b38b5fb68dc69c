"""``st.linalg`` gradients checked numerically: ``gradcheck`` and ``gradgradcheck`` (first and second derivatives
against central differences) for every differentiable function, real and complex, and second derivatives
(Hessian-vector products) against PyTorch's."""
import math

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

L = st.linalg
KINDS = [pytest.param(False, id="real"), pytest.param(True, id="complex")]


def rand(rng, shape, complex_):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if complex_ else x


def square(rng, shape, complex_):
    return rand(rng, shape, complex_) + 3 * np.eye(shape[-1])


def positive_definite(rng, shape, complex_):
    a = rand(rng, shape, complex_)
    return a @ np.conj(np.swapaxes(a, -1, -2)) + shape[-1] * np.eye(shape[-1])


def hermitian_part(x):
    """``(x + x^H) / 2``: eigh and cholesky read one triangle, so finite differences must move both together."""
    return (x + st.conj(L.matrix_transpose(x))) / 2


def phase_free_svd(x):
    """Functions of the SVD that do not depend on the phase (sign) of each singular vector, as PyTorch's tests use:
    ``|U|^2``, ``S``, ``|V|^2`` and the reconstruction."""
    u, s, vh = L.svd(x, full_matrices=False)
    return u * st.conj(u), s, vh * st.conj(vh), (u * s[..., None, :]) @ vh


def phase_free_eigh(x):
    w, v = L.eigh(hermitian_part(x))
    return w, v * st.conj(v)


def phase_free_qr(x):
    q, r = L.qr(x)
    return q * st.conj(q), r * st.conj(r), q @ r


# name -> (function, input makers); the inputs are small so the coordinate-wise checks stay cheap
CASES = {
    "inv": (L.inv, [lambda g, c: square(g, (2, 3, 3), c)]),
    "solve": (L.solve, [lambda g, c: square(g, (2, 3, 3), c), lambda g, c: rand(g, (3, 2), c)]),
    "solve_vector": (L.solve, [lambda g, c: square(g, (3, 3), c), lambda g, c: rand(g, (3,), c)]),
    "det": (L.det, [lambda g, c: square(g, (2, 3, 3), c)]),
    "slogdet": (lambda x: tuple(L.slogdet(x)), [lambda g, c: square(g, (2, 3, 3), c)]),
    "cholesky": (lambda x: L.cholesky(hermitian_part(x)), [lambda g, c: positive_definite(g, (2, 3, 3), c)]),
    "cholesky_upper": (lambda x: L.cholesky(hermitian_part(x), upper=True),
                       [lambda g, c: positive_definite(g, (3, 3), c)]),
    "matrix_power_3": (lambda x: L.matrix_power(x, 3), [lambda g, c: square(g, (2, 3, 3), c) / 3]),
    "matrix_power_-2": (lambda x: L.matrix_power(x, -2), [lambda g, c: square(g, (3, 3), c)]),
    "pinv_tall": (L.pinv, [lambda g, c: rand(g, (4, 3), c)]),
    "pinv_wide": (L.pinv, [lambda g, c: rand(g, (2, 3, 4), c)]),
    "svd": (phase_free_svd, [lambda g, c: rand(g, (4, 3), c)]),
    "svd_wide": (phase_free_svd, [lambda g, c: rand(g, (2, 3, 4), c)]),
    "svdvals": (L.svdvals, [lambda g, c: rand(g, (2, 4, 3), c)]),
    "eigh": (phase_free_eigh, [lambda g, c: rand(g, (2, 3, 3), c)]),
    "eigvalsh": (lambda x: L.eigvalsh(hermitian_part(x)), [lambda g, c: rand(g, (3, 3), c)]),
    "qr": (phase_free_qr, [lambda g, c: rand(g, (4, 3), c)]),
    "qr_wide": (phase_free_qr, [lambda g, c: rand(g, (3, 4), c)]),
    "cross": (lambda a, b: L.cross(a, b, axis=0), [lambda g, c: rand(g, (3, 2), c), lambda g, c: rand(g, (3, 1), c)]),
    "vecdot": (L.vecdot, [lambda g, c: rand(g, (2, 3), c), lambda g, c: rand(g, (3,), c)]),
    "tensordot": (lambda a, b: L.tensordot(a, b, axes=([0, 2], [1, 0])),
                  [lambda g, c: rand(g, (2, 3, 4), c), lambda g, c: rand(g, (4, 2, 2), c)]),
    "trace": (lambda x: L.trace(x, offset=1), [lambda g, c: rand(g, (2, 3, 4), c)]),
    "diagonal": (lambda x: L.diagonal(x, offset=-1), [lambda g, c: rand(g, (2, 3, 4), c)]),
    "outer": (L.outer, [lambda g, c: rand(g, (3,), c), lambda g, c: rand(g, (4,), c)]),
    "matrix_transpose": (L.matrix_transpose, [lambda g, c: rand(g, (2, 3), c)]),
}
for _ord in ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf]:
    CASES[f"matrix_norm_{_ord}"] = ((lambda o: lambda x: L.matrix_norm(x, ord=o))(_ord),
                                    [lambda g, c: rand(g, (2, 3, 4), c)])
for _ord in [2, 1, 3, 0.5, -1, math.inf, -math.inf]:
    CASES[f"vector_norm_{_ord}"] = ((lambda o: lambda x: L.vector_norm(x, axis=-1, ord=o))(_ord),
                                    [lambda g, c: rand(g, (2, 4), c)])


def inputs(device, rng, makers, complex_):
    return [st.tensor(make(rng, complex_), device=device, requires_grad=True) for make in makers]


@pytest.mark.parametrize("complex_", KINDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(device, rng, name, complex_):
    fn, makers = CASES[name]
    assert st.autograd.gradcheck(fn, inputs(device, rng, makers, complex_))


@pytest.mark.parametrize("complex_", KINDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(device, rng, name, complex_):
    fn, makers = CASES[name]
    assert st.autograd.gradgradcheck(fn, inputs(device, rng, makers, complex_))


TORCH_SECOND_ORDER = {
    "inv": (L.inv, torch.linalg.inv, lambda g, c: square(g, (2, 3, 3), c)),
    "det": (L.det, torch.linalg.det, lambda g, c: square(g, (2, 3, 3), c)),
    "logabsdet": (lambda x: L.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x).logabsdet,
                  lambda g, c: square(g, (2, 3, 3), c)),
    "cholesky": (L.cholesky, torch.linalg.cholesky, lambda g, c: positive_definite(g, (2, 3, 3), c)),
    "matrix_power_-2": (lambda x: L.matrix_power(x, -2), lambda x: torch.linalg.matrix_power(x, -2),
                        lambda g, c: square(g, (3, 3), c)),
    "pinv": (L.pinv, torch.linalg.pinv, lambda g, c: rand(g, (4, 3), c)),
    "svdvals": (L.svdvals, torch.linalg.svdvals, lambda g, c: rand(g, (2, 4, 3), c)),
    "eigvalsh": (L.eigvalsh, torch.linalg.eigvalsh, lambda g, c: positive_definite(g, (3, 3), c)),
    "matrix_norm_nuc": (lambda x: L.matrix_norm(x, ord="nuc"), lambda x: torch.linalg.matrix_norm(x, ord="nuc"),
                        lambda g, c: rand(g, (2, 3, 4), c)),
    "vector_norm_3": (lambda x: L.vector_norm(x, ord=3, axis=-1), lambda x: torch.linalg.vector_norm(x, 3, dim=-1),
                      lambda g, c: rand(g, (2, 4), c)),
    "trace_of_cube": (lambda x: L.trace(x @ x @ x), lambda x: torch.diagonal(x @ x @ x, 0, -2, -1).sum(-1),
                      lambda g, c: rand(g, (2, 3, 3), c)),
}


@pytest.mark.parametrize("complex_", KINDS)
@pytest.mark.parametrize("name", sorted(TORCH_SECOND_ORDER))
def test_second_derivatives_match_torch(device, rng, name, complex_):
    """The derivative of <gradient, v> (a Hessian-vector product) for a random cotangent u and direction v."""
    fn, torch_fn, make = TORCH_SECOND_ORDER[name]
    a = make(rng, complex_)
    x = st.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, ty = fn(x), torch_fn(t)
    u = rand(rng, y.shape, y.dtype.kind == "c")
    v = rand(rng, a.shape, complex_)
    g, = st.autograd.grad([y], [x], [st.tensor(u.astype(y.dtype), device=device)], create_graph=True)
    tg, = torch.autograd.grad([ty], [t], [torch.tensor(u.astype(y.dtype))], create_graph=True)
    np.testing.assert_allclose(to_numpy(g), tg.detach().numpy(), rtol=1e-6, atol=1e-9)
    # a real scalar of the gradient, then its gradient: sum Re(conj(v) * g)
    hv, = st.autograd.grad([st.real(st.conj(st.tensor(v, device=device)) * g).sum() if complex_ else
                            (st.tensor(v, device=device) * g).sum()], [x])
    thv, = torch.autograd.grad([(torch.tensor(v).conj() * tg).real.sum()], [t])
    np.testing.assert_allclose(to_numpy(hv), thv.resolve_conj().numpy(), rtol=1e-6, atol=1e-9)
