"""Full runs of the examples on the real data sets, side by side with PyTorch where the issue asks.

Each takes minutes; run with ``pytest bench/test_examples.py --benchmark-only -s``.
"""
import pathlib
import sys

import numpy as np
import pytest
import torch

import sparktensor as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

import fashion_mnist_lenet as lenet  # noqa: E402
import japanese_vowels_lstm as vowels  # noqa: E402
import shakespeare_char_lstm as charlm  # noqa: E402

EPOCHS, BATCH, LR, MOMENTUM = 3, 64, 0.01, 0.9
CASE = f"LeNet-5 Fashion-MNIST {EPOCHS} epochs, SGD lr {LR} momentum {MOMENTUM}, batch {BATCH}"


def _torch_lenet():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2), t.Conv2d(6, 16, 5), t.ReLU(),
                        t.MaxPool2d(2), t.Flatten(), t.Linear(400, 120), t.ReLU(), t.Linear(120, 84), t.ReLU(),
                        t.Linear(84, 10))


def _epochs_of_batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(EPOCHS)]


@pytest.fixture(scope="module")
def fashion():
    return lenet.load("train"), lenet.load("test")


@pytest.fixture(scope="module")
def initial_weights():
    st.manual_seed(0)
    return {k: v.numpy().copy() for k, v in lenet.lenet5().state_dict().items()}


def _train_sparktensor(fashion, weights):
    (x, y), (tx, ty) = fashion
    model = lenet.lenet5()
    model.load_state_dict(weights)
    optimizer = st.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    for order in _epochs_of_batches(len(y)):
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = st.nn.functional.cross_entropy(model(st.tensor(x[idx])), st.tensor(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return lenet.accuracy(model, tx, ty)


def _train_torch(fashion, weights):
    (x, y), (tx, ty) = fashion
    model = _torch_lenet()
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for order in _epochs_of_batches(len(y)):
        order = torch.tensor(order)
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return float((model(torch.tensor(tx)).argmax(1).numpy() == ty).mean())


ACCURACY = {}


@pytest.mark.benchmark(group=CASE)
def test_lenet_three_epochs_sparktensor(benchmark, record, fashion, initial_weights):
    ACCURACY["sparktensor"] = benchmark.pedantic(_train_sparktensor, (fashion, initial_weights), rounds=1)
    record(benchmark, CASE, "sparktensor")
    print(f"\n{CASE}: sparktensor test accuracy {ACCURACY['sparktensor']:.4f}")


@pytest.mark.benchmark(group=CASE)
def test_lenet_three_epochs_torch(benchmark, record, fashion, initial_weights):
    ACCURACY["torch"] = benchmark.pedantic(_train_torch, (fashion, initial_weights), rounds=1)
    record(benchmark, CASE, "torch")
    print(f"\n{CASE}: PyTorch test accuracy {ACCURACY['torch']:.4f}")
    if "sparktensor" in ACCURACY:
        # the same model, weights, batches and optimizer: only float rounding differs
        assert ACCURACY["sparktensor"] >= ACCURACY["torch"] - 0.003


@pytest.mark.benchmark(group="examples, full runs")
def test_lenet_example_schedule_reaches_90_percent(benchmark):
    _, history = benchmark.pedantic(lenet.train, rounds=1)
    print(f"\nLeNet-5 example schedule: test accuracy per epoch {[round(a, 4) for a in history]}")
    assert history[-1] >= 0.90


@pytest.mark.benchmark(group="examples, full runs")
def test_char_lstm_example_validation_loss(benchmark):
    _, _, history = benchmark.pedantic(charlm.train, rounds=1)
    print(f"\ncharacter LSTM: validation loss by step {history}")
    assert history[-1][1] < 2.0


@pytest.mark.benchmark(group="examples, full runs")
def test_japanese_vowels_example_accuracy(benchmark):
    _, accuracy = benchmark.pedantic(vowels.train, rounds=1)
    print(f"\nJapaneseVowels LSTM: test accuracy {accuracy:.4f}")
    assert accuracy >= 0.95




@pytest.mark.benchmark(group="examples, full runs")
def test_char_lstm_example_model_loss_curve_matches_pytorch(benchmark):
    """The example's model (2 x 256) and batches: losses within 1% of PyTorch's over the first 100 steps."""
    import char_lstm_vs_pytorch
    pairs = benchmark.pedantic(char_lstm_vs_pytorch.loss_pairs, rounds=1)
    worst = max(abs(a - b) / b for a, b in pairs)
    print(f"\ncharacter LSTM 2x256, 100 steps: largest relative loss difference from PyTorch {worst:.2e}")
    assert worst < 0.01
