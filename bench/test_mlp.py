"""Forward + backward of a 784-256-256-10 MLP from raw tensor ops, batch 128, float32."""
import numpy as np
import pytest
import torch

import sparktensor as st

SIZES = [784, 256, 256, 10]
BATCH = 128
CASE = "MLP 784-256-256-10 batch 128 fwd+bwd"


def _weights():
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [np.zeros(b, np.float32) for b in SIZES[1:]]
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], BATCH)]
    return ws, bs, x, y


def step(lib, ws, bs, x, y):
    """One forward + backward; ``lib`` is the module with ``log_softmax``-style methods (same code for both)."""
    for p in ws + bs:
        p.grad = None
    h = x
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = h.relu()
    loss = -(h.log_softmax(-1) * y).sum() / BATCH
    loss.backward()
    return loss


def _reference_gradients():
    ws, bs, x, y = _weights()
    tw = [torch.tensor(w, requires_grad=True) for w in ws]
    tb = [torch.tensor(b, requires_grad=True) for b in bs]
    step(torch, tw, tb, torch.tensor(x), torch.tensor(y))
    return [p.grad.numpy() for p in tw + tb]


@pytest.mark.benchmark(group=CASE)
def test_mlp_sparktensor(benchmark, record):
    ws, bs, x, y = _weights()
    ws = [st.tensor(w, requires_grad=True) for w in ws]
    bs = [st.tensor(b, requires_grad=True) for b in bs]
    benchmark(step, st, ws, bs, st.tensor(x), st.tensor(y))
    record(benchmark, CASE, "sparktensor")
    # the same gradients as PyTorch's, so the timing compares like with like
    for p, expected in zip(ws + bs, _reference_gradients()):
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-3, atol=1e-5)


@pytest.mark.benchmark(group=CASE)
def test_mlp_torch(benchmark, record):
    ws, bs, x, y = _weights()
    ws = [torch.tensor(w, requires_grad=True) for w in ws]
    bs = [torch.tensor(b, requires_grad=True) for b in bs]
    benchmark(step, torch, ws, bs, torch.tensor(x), torch.tensor(y))
    record(benchmark, CASE, "torch")
