"""Autodiff overhead of a large matmul's backward against the two NumPy matmuls it needs.

The two are interleaved in rounds (``bench/interleave.py``); each round keeps the median of a block of calls of
each (the forward untimed). Run: ``BENCH_THREADS=1 python -m pytest bench/test_matmul_backward.py --benchmark-only
-s -q`` (``BENCH_ROUNDS``, default 5; ``BENCH_CALLS``, default 3).
"""
import numpy as np
import pytest

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary

N = 2048
CASE = f"matmul {N}x{N} backward"
REFERENCE = "numpy (g @ b.T, a.T @ g)"
CALLS = 3


def _operands():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((N, N)).astype(np.float32) for _ in range(3)]


@pytest.mark.benchmark(group=CASE)
def test_matmul_backward_against_numpy(benchmark, record):
    a, b, g = _operands()
    ta, tb, tg = st.tensor(a, requires_grad=True), st.tensor(b, requires_grad=True), st.tensor(g)

    def forward():  # untimed: only the backward is measured
        ta.grad = tb.grad = None
        return ta @ tb, tg

    calls = calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({
        "sparktensor": lambda: median_seconds(lambda z, gz: z.backward(gz), calls, setup=forward),
        "numpy": lambda: median_seconds(lambda: (g @ b.T, a.T @ g), calls)}, ROUNDS), rounds=1)
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T, rtol=1e-4)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g, rtol=1e-4)
    record(CASE, REFERENCE, found["sparktensor"], found["numpy"])
    ratio = ratio_summary(found["sparktensor"], found["numpy"])
    print(f"\n{CASE}: sparktensor / {REFERENCE} {ratio} ({ROUNDS} interleaved rounds of {calls} calls)")
    assert np.isfinite(ratio.median)
