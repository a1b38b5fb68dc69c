"""A whole training step (forward, backward, SGD update) of an MLP 784-512-512-10 built from nn layers, batch 128."""
import numpy as np
import pytest
import torch

import sparktensor as st

CASE = "MLP 784-512-512-10 batch 128 training step (nn.Linear, cross_entropy, SGD momentum)"


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
def test_training_step_sparktensor(benchmark, record):
    model, optimizer, x, y = build(st)
    benchmark(step, st, model, optimizer, x, y)
    record(benchmark, CASE, "sparktensor")
    # ten more steps from fresh weights land where PyTorch's do
    ours, theirs = build(st), build(torch)
    for _ in range(10):
        step(st, *ours)
        step(torch, *theirs)
    for (k, a), b in zip(ours[0].state_dict().items(), theirs[0].state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.benchmark(group=CASE)
def test_training_step_torch(benchmark, record):
    model, optimizer, x, y = build(torch)
    benchmark(step, torch, model, optimizer, x, y)
    record(benchmark, CASE, "torch")
