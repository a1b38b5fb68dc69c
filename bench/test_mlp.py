"""Forward + backward of a 784-256-256-10 MLP from raw tensor ops, batch 128, float32, against PyTorch.

The two are interleaved in rounds (``bench/interleave.py``); each round keeps the median of a block of calls of
each. Run: ``BENCH_THREADS=1 python -m pytest bench/test_mlp.py --benchmark-only -s -q`` (``BENCH_ROUNDS``,
default 5; ``BENCH_CALLS``, default 30).
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary, same_threads

SIZES = [784, 256, 256, 10]
BATCH = 128
CASE = "MLP 784-256-256-10 batch 128 fwd+bwd"
CALLS = 30


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


def _leaves(lib):
    ws, bs, x, y = _weights()
    return ([lib.tensor(w, requires_grad=True) for w in ws], [lib.tensor(b, requires_grad=True) for b in bs],
            lib.tensor(x), lib.tensor(y))


@pytest.mark.benchmark(group=CASE)
def test_mlp_against_torch(benchmark, record):
    same_threads()
    ours, theirs = _leaves(st), _leaves(torch)
    calls = calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({"sparktensor": lambda: median_seconds(lambda: step(st, *ours), calls),
                                              "torch": lambda: median_seconds(lambda: step(torch, *theirs), calls)},
                                             ROUNDS), rounds=1)
    # the same gradients as PyTorch's, so the timing compares like with like
    ws, bs, _, _ = ours
    for p, expected in zip(ws + bs, _reference_gradients()):
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-3, atol=1e-5)
    record(CASE, "torch", found["sparktensor"], found["torch"])
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    print(f"\n{CASE}: sparktensor / torch {ratio} ({ROUNDS} interleaved rounds of {calls} calls, "
          f"{torch.get_num_threads()} thread(s))")
    assert np.isfinite(ratio.median)
