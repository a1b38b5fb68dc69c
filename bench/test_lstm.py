"""Forward + backward of a 2-layer LSTM, hidden 256, sequence 35, batch 32, float32, against torch.nn.LSTM.

The two are interleaved in rounds (``bench/interleave.py``); each round keeps the median of a block of calls of
each. Run: ``BENCH_THREADS=1 python -m pytest bench/test_lstm.py --benchmark-only -s -q`` (``BENCH_ROUNDS``,
default 5; ``BENCH_CALLS``, default 5).
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import ROUNDS, calls_per_block, interleaved, median_seconds, ratio_summary, same_threads
from sparktensor.nn.modules.rnn import LSTM

SIZE, LAYERS, STEPS, BATCH = 256, 2, 35, 32
CASE = f"LSTM {LAYERS}x{SIZE} seq {STEPS} batch {BATCH} fwd+bwd"
CALLS = 5


def _models():
    """A torch LSTM and a sparktensor LSTM with identical weights, and one input."""
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(SIZE, SIZE, LAYERS)
    ours = LSTM(SIZE, SIZE, LAYERS)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((STEPS, BATCH, SIZE)).astype(np.float32)
    return ours, theirs, x


def step(model, x):
    """One forward + backward with the sum of the outputs as the loss (same code for both libraries)."""
    model.zero_grad()
    x.grad = None
    output, _ = model(x)
    loss = output.sum()
    loss.backward()
    return loss


@pytest.mark.benchmark(group=CASE)
def test_lstm_against_torch(benchmark, record):
    same_threads()
    ours, theirs, x_np = _models()
    x, xt = st.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    calls = calls_per_block(CALLS)
    found = benchmark.pedantic(interleaved, ({"sparktensor": lambda: median_seconds(lambda: step(ours, x), calls),
                                              "torch": lambda: median_seconds(lambda: step(theirs, xt), calls)},
                                             ROUNDS), rounds=1)
    # the same gradients as PyTorch's, so the timing compares like with like
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    expected = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), expected[name].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    record(CASE, "torch", found["sparktensor"], found["torch"])
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    print(f"\n{CASE}: sparktensor / torch {ratio} ({ROUNDS} interleaved rounds of {calls} calls, "
          f"{torch.get_num_threads()} thread(s))")
    assert np.isfinite(ratio.median)
