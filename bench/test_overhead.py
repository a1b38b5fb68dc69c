"""Per-op overhead: a small elementwise chain, forward + backward."""
import numpy as np
import pytest
import torch

import sparktensor as st

SHAPE = (16, 16)
OPS = 8  # mul, add, tanh, mul, exp, mul, sum forward; the same count backward


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


@pytest.mark.benchmark(group="elementwise chain fwd+bwd")
def test_chain_sparktensor(benchmark, record):
    x = st.tensor(_data(), requires_grad=True)
    benchmark(chain_sparktensor, x)
    record(benchmark, "elementwise chain 16x16 fwd+bwd", "sparktensor")
    # the hand-written reference computes the same gradient, so the comparison is fair
    x64 = st.tensor(_data().astype(np.float64), requires_grad=True)
    chain_sparktensor(x64)
    np.testing.assert_allclose(x64.grad.numpy(), chain_numpy(x64.numpy()), rtol=1e-10)


@pytest.mark.benchmark(group="elementwise chain fwd+bwd")
def test_chain_torch(benchmark, record):
    x = torch.tensor(_data(), requires_grad=True)
    benchmark(chain_torch, x)
    record(benchmark, "elementwise chain 16x16 fwd+bwd", "torch")


@pytest.mark.benchmark(group="elementwise chain fwd+bwd")
def test_chain_numpy(benchmark, record):
    benchmark(chain_numpy, _data())
    record(benchmark, "elementwise chain 16x16 fwd+bwd", "numpy")
