"""Autodiff overhead of a large matmul's backward against the two NumPy matmuls it needs."""
import numpy as np
import pytest

import sparktensor as st

N = 2048
CASE = f"matmul {N}x{N} backward"


def _operands():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((N, N)).astype(np.float32) for _ in range(3)]


@pytest.mark.benchmark(group=CASE)
def test_matmul_backward_sparktensor(benchmark, record):
    a, b, g = _operands()
    a, b, g = st.tensor(a, requires_grad=True), st.tensor(b, requires_grad=True), st.tensor(g)

    def forward():
        a.grad = b.grad = None
        return (a @ b, g), {}

    benchmark.pedantic(lambda z, gz: z.backward(gz), setup=forward, rounds=7, warmup_rounds=1)
    record(benchmark, CASE, "sparktensor")
    np.testing.assert_allclose(a.grad.numpy(), g.numpy() @ b.numpy().T, rtol=1e-4)


@pytest.mark.benchmark(group=CASE)
def test_matmul_backward_numpy(benchmark, record):
    a, b, g = _operands()
    benchmark.pedantic(lambda: (g @ b.T, a.T @ g), rounds=7, warmup_rounds=1)
    record(benchmark, CASE, "numpy (g @ b.T, a.T @ g)")
