"""Forward + backward of LeNet-5 on 28x28 inputs, batch 64, float32: convolutions, pooling, then raw linear ops.

sparktensor and PyTorch run the same code interleaved in rounds (``bench/interleave.py``); each round keeps the
median of a block of calls of each. Run: ``BENCH_THREADS=1 python -m pytest bench/test_lenet.py --benchmark-only
-s -q`` (``BENCH_ROUNDS``, default 5; ``BENCH_CALLS``, default 20).
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary, same_threads
from sparktensor.nn.functional.conv import conv2d
from sparktensor.nn.functional.pooling import max_pool2d

BATCH = 64
CASE = "LeNet-5 28x28 batch 64 fwd+bwd"
CALLS = 20
SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,), (10, 84), (10,)]


def _data():
    rng = np.random.default_rng(0)
    params = []
    for shape in SHAPES:
        fan_in = int(np.prod(SHAPES[len(params) - 1][1:])) if len(shape) == 1 else int(np.prod(shape[1:]))
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, shape).astype(np.float32))
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    return params, x, y


def step(conv, pool, params, x, y):
    """One forward + backward; the same code runs on PyTorch and sparktensor tensors."""
    w1, b1, w2, b2, l1, c1, l2, c2, l3, c3 = params
    for p in params:
        p.grad = None
    h = pool(conv(x, w1, b1, padding=2).relu(), 2)
    h = pool(conv(h, w2, b2).relu(), 2)
    h = h.reshape(h.shape[0], -1)
    h = (h @ l1.T + c1).relu()
    h = (h @ l2.T + c2).relu()
    h = h @ l3.T + c3
    loss = -(h.log_softmax(-1) * y).sum() / BATCH
    loss.backward()
    return loss


def _reference_gradients():
    params, x, y = _data()
    params = [torch.tensor(p, requires_grad=True) for p in params]
    step(torch.nn.functional.conv2d, torch.nn.functional.max_pool2d, params, torch.tensor(x), torch.tensor(y))
    return [p.grad.numpy() for p in params]


@pytest.mark.benchmark(group=CASE)
def test_lenet_against_torch(benchmark, record):
    same_threads()
    params, x, y = _data()
    ours = [st.tensor(p, requires_grad=True) for p in params], st.tensor(x), st.tensor(y)
    theirs = [torch.tensor(p, requires_grad=True) for p in params], torch.tensor(x), torch.tensor(y)
    conv, pool = torch.nn.functional.conv2d, torch.nn.functional.max_pool2d
    calls = calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({
        "sparktensor": lambda: median_seconds(lambda: step(conv2d, max_pool2d, *ours), calls),
        "torch": lambda: median_seconds(lambda: step(conv, pool, *theirs), calls)}, ROUNDS), rounds=1)
    # the same gradients as PyTorch's, so the timing compares like with like
    for p, expected in zip(ours[0], _reference_gradients()):
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-3, atol=1e-5)
    record(CASE, "torch", found["sparktensor"], found["torch"])
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    print(f"\n{CASE}: sparktensor / torch {ratio} ({ROUNDS} interleaved rounds of {calls} calls, "
          f"{torch.get_num_threads()} thread(s))")
    assert np.isfinite(ratio.median)
