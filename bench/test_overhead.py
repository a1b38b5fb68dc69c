"""Per-op overhead: a small elementwise chain, forward + backward, against PyTorch and hand-written NumPy.

The three are interleaved in rounds (``bench/interleave.py``); each round keeps the median of a block of calls of
each. Run: ``BENCH_THREADS=1 python -m pytest bench/test_overhead.py --benchmark-only -s -q`` (``BENCH_ROUNDS``,
default 5; ``BENCH_CALLS``, default 300).
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary, same_threads

SHAPE = (16, 16)
OPS = 8  # mul, add, tanh, mul, exp, mul, sum forward; the same count backward
CASE = "elementwise chain 16x16 fwd+bwd"
CALLS = 300


def _data():
    return np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


def chain_sparktensor(x):
    y = ((x * 0.5 + 1.0).tanh() * x).exp() * 0.25
    loss = y.sum()
    loss.backward()


def chain_torch(x):
    y = ((x * 0.5 + 1.0).tanh() * x).exp() * 0.25
    loss = y.sum()
    loss.backward()


def chain_numpy(x):
    """The same chain with its backward written by hand."""
    a = x * 0.5 + 1.0
    t = np.tanh(a)
    b = t * x
    e = np.exp(b)
    y = e * 0.25
    y.sum()
    ge = np.full_like(y, 0.25) * e
    gt = ge * x
    gx = ge * t + gt * (1 - t * t) * 0.5
    return gx


@pytest.mark.benchmark(group=CASE)
def test_chain_against_torch_and_numpy(benchmark, record):
    # the hand-written reference computes the same gradient, so the comparison is fair
    x64 = st.tensor(_data().astype(np.float64), requires_grad=True)
    chain_sparktensor(x64)
    np.testing.assert_allclose(x64.grad.numpy(), chain_numpy(x64.numpy()), rtol=1e-10)
    same_threads()
    ours, theirs = st.tensor(_data(), requires_grad=True), torch.tensor(_data(), requires_grad=True)
    plain, calls = _data(), calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({
        "sparktensor": lambda: median_seconds(lambda: chain_sparktensor(ours), calls, warmup=10),
        "torch": lambda: median_seconds(lambda: chain_torch(theirs), calls, warmup=10),
        "numpy": lambda: median_seconds(lambda: chain_numpy(plain), calls, warmup=10)}, ROUNDS), rounds=1)
    for reference in ("torch", "numpy"):
        record(CASE, reference, found["sparktensor"], found[reference])
        ratio = ratio_summary(found["sparktensor"], found[reference])
        print(f"\n{CASE}: sparktensor / {reference} {ratio} ({ROUNDS} interleaved rounds of {calls} calls, "
              f"{torch.get_num_threads()} thread(s))")
        assert np.isfinite(ratio.median)
