"""Forward + backward of a 2-layer LSTM, hidden 256, sequence 35, batch 32, float32, against torch.nn.LSTM."""
import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.modules.rnn import LSTM

SIZE, LAYERS, STEPS, BATCH = 256, 2, 35, 32
CASE = f"LSTM {LAYERS}x{SIZE} seq {STEPS} batch {BATCH} fwd+bwd"


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
def test_lstm_sparktensor(benchmark, record):
    ours, theirs, x_np = _models()
    x = st.tensor(x_np, requires_grad=True)
    benchmark(step, ours, x)
    record(benchmark, CASE, "sparktensor")
    # the same gradients as PyTorch's, so the timing compares like with like
    xt = torch.tensor(x_np, requires_grad=True)
    step(theirs, xt)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    expected = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), expected[name].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.benchmark(group=CASE)
def test_lstm_torch(benchmark, record):
    _, theirs, x_np = _models()
    benchmark(step, theirs, torch.tensor(x_np, requires_grad=True))
    record(benchmark, CASE, "torch")
