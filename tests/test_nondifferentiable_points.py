"""Gradients where a function is not differentiable (ties, zeros, bounds, repeated singular values): the values
docs/pytorch.md lists, each beside PyTorch's on the same input."""
import warnings

import numpy as np
import pytest
import torch

import sparktensor as st

F64 = torch.float64
CASES = {
    "abs at 0": (lambda t: abs(t), torch.abs, [0.0, 1.0]),
    "relu at 0": (lambda t: t.relu(), torch.relu, [0.0, 1.0]),
    "sign": (st.sign, torch.sign, [0.0, -2.0]),
    "floor": (st.floor, torch.floor, [0.5, 2.0]),
    "round": (st.round, torch.round, [0.5, 1.5]),
    "clip at its bounds": (lambda t: st.clip(t, 0.0, 1.0), lambda t: torch.clamp(t, 0.0, 1.0), [0.0, 1.0, 0.5, 2.0]),
    "amax ties share": (lambda t: st.max(t, axis=0), lambda t: torch.amax(t, 0), [1.0, 3.0, 3.0]),
    "max(dim) ties: one index": (lambda t: st.max(t, dim=0).values, lambda t: torch.max(t, 0).values, [1.0, 3.0, 3.0]),
    "maximum ties: half each": (lambda t: st.maximum(t, st.tensor([1.0, 0.0], dtype=st.float64)),
                                lambda t: torch.maximum(t, torch.tensor([1.0, 0.0], dtype=F64)), [1.0, 2.0]),
    "sort ties: stable": (lambda t: st.sort(t, axis=0) * st.tensor([1.0, 2.0, 3.0], dtype=st.float64),
                          lambda t: torch.sort(t, stable=True).values * torch.tensor([1.0, 2.0, 3.0], dtype=F64),
                          [2.0, 1.0, 2.0]),
    "sqrt at 0": (st.sqrt, torch.sqrt, [0.0, 4.0]),
    "vector_norm at 0": (st.linalg.vector_norm, torch.linalg.vector_norm, [0.0, 0.0]),
    "inf-norm ties share": (lambda t: st.linalg.vector_norm(t, ord=float("inf")),
                            lambda t: torch.linalg.vector_norm(t, ord=float("inf")), [2.0, -2.0, 1.0]),
    "prod with a zero": (st.prod, torch.prod, [0.0, 2.0, 3.0]),
    "cumprod with a zero": (lambda t: st.cumulative_prod(t), lambda t: torch.cumprod(t, 0), [2.0, 0.0, 3.0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_at_a_non_differentiable_point_is_pytorchs(name):
    ours, theirs, values = CASES[name]
    x, tx = st.tensor(values, dtype=st.float64, requires_grad=True), torch.tensor(values, dtype=F64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt at 0: an infinite gradient, as PyTorch's
        ours(x).sum().backward()
    theirs(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_repeated_singular_values_give_nan_vectors_but_finite_values_as_pytorch():
    a = np.diag([2.0, 2.0, 1.0])
    for ours, theirs, nan in ((lambda m: st.linalg.svd(m).U, lambda m: torch.linalg.svd(m).U, True),
                              (st.linalg.svdvals, torch.linalg.svdvals, False),
                              (lambda m: st.linalg.eigh(m).eigenvectors, lambda m: torch.linalg.eigh(m).eigenvectors,
                               True),
                              (st.linalg.eigvalsh, torch.linalg.eigvalsh, False)):
        x, tx = st.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ours(x).sum().backward()
        theirs(tx).sum().backward()
        assert np.isnan(x.grad.numpy()).any() == nan == bool(torch.isnan(tx.grad).any())
        if not nan:
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-12)
