"""A whole training step (forward, backward, SGD update) of an MLP 784-512-512-10 built from nn layers, batch 128.

sparktensor and PyTorch are interleaved in rounds (``bench/interleave.py``); each round keeps the median of a
block of steps of each. Run: ``BENCH_THREADS=1 python -m pytest bench/test_training_step.py --benchmark-only -s
-q`` (``BENCH_ROUNDS``, default 5; ``BENCH_CALLS``, default 20).
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary, same_threads

CASE = "MLP 784-512-512-10 batch 128 training step (nn.Linear, cross_entropy, SGD momentum)"
CALLS = 20


def build(lib):
    """The same network, weights and data for either library (``st`` or ``torch``)."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    rng = np.random.default_rng(0)
    weights = {k: rng.uniform(-0.04, 0.04, tuple(v.shape)).astype(np.float32) for k, v in model.state_dict().items()}
    model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = lib.tensor(rng.standard_normal((128, 784)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, 128))
    return model, optimizer, x, y


def step(lib, model, optimizer, x, y):
    loss = lib.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


@pytest.mark.benchmark(group=CASE)
def test_training_step_against_torch(benchmark, record):
    same_threads()
    # ten steps from the same weights land where PyTorch's do, so the timing compares like with like
    ours, theirs = build(st), build(torch)
    for _ in range(10):
        step(st, *ours)
        step(torch, *theirs)
    for (k, a), b in zip(ours[0].state_dict().items(), theirs[0].state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)
    calls = calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({"sparktensor": lambda: median_seconds(lambda: step(st, *ours), calls),
                                              "torch": lambda: median_seconds(lambda: step(torch, *theirs), calls)},
                                             ROUNDS), rounds=1)
    record(CASE, "torch", found["sparktensor"], found["torch"])
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    print(f"\n{CASE}: sparktensor / torch {ratio} ({ROUNDS} interleaved rounds of {calls} calls, "
          f"{torch.get_num_threads()} thread(s))")
    assert np.isfinite(ratio.median)
