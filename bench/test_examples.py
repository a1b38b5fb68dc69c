"""Full runs of the examples on the real data sets, side by side with PyTorch where the issue asks.

LeNet-5 against PyTorch: the same weights, batches and optimizer on both sides, trained epoch by epoch in turn,
one epoch of one library then one of the other, the order flipped every epoch (``bench/interleave.py``), so the
machine's drift favours neither. Each side's training time per epoch is kept; the ratio is the median (min-max)
of the epochs' sparktensor / PyTorch ratios, and the test accuracies after the last epoch are compared.

Each takes minutes; run with ``python -m pytest bench/test_examples.py --benchmark-only -s -q``
(``BENCH_EXAMPLES_LIMIT=2000`` trains the LeNet-5 comparison on the first 2,000 training images for a quick
check; by default all 60,000).
"""
import os
import pathlib
import sys
import time

import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import interleaved, ratio_summary

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

import fashion_mnist_lenet as lenet  # noqa: E402
import japanese_vowels_lstm as vowels  # noqa: E402
import shakespeare_char_lstm as charlm  # noqa: E402

EPOCHS, BATCH, LR, MOMENTUM = 3, 64, 0.01, 0.9
LIMIT = int(os.environ["BENCH_EXAMPLES_LIMIT"]) if os.environ.get("BENCH_EXAMPLES_LIMIT") else None
CASE = f"LeNet-5 Fashion-MNIST {EPOCHS} epochs, SGD lr {LR} momentum {MOMENTUM}, batch {BATCH}" + \
    (f", first {LIMIT} images" if LIMIT else "")


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
    return lenet.load("train", LIMIT), lenet.load("test")


@pytest.fixture(scope="module")
def initial_weights():
    st.manual_seed(0)
    return {k: v.numpy().copy() for k, v in lenet.lenet5().state_dict().items()}


def _sparktensor_trainer(fashion, weights, orders):
    """``(train one epoch -> seconds, test accuracy)`` of sparktensor's LeNet-5 from ``weights``."""
    (x, y), (tx, ty) = fashion
    model = lenet.lenet5()
    model.load_state_dict(weights)
    optimizer = st.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    epochs = iter(orders)

    def epoch():
        order = next(epochs)
        start_time = time.perf_counter()
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = st.nn.functional.cross_entropy(model(st.tensor(x[idx])), st.tensor(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start_time
    return epoch, lambda: lenet.accuracy(model, tx, ty)


def _torch_trainer(fashion, weights, orders):
    """``(train one epoch -> seconds, test accuracy)`` of PyTorch's LeNet-5 from ``weights``."""
    (x, y), (tx, ty) = fashion
    model = _torch_lenet()
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xt, yt = torch.tensor(x), torch.tensor(y)
    epochs = iter(orders)

    def epoch():
        order = next(epochs)
        start_time = time.perf_counter()
        order = torch.tensor(order)
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start_time

    def accuracy():
        with torch.no_grad():
            return float((model(torch.tensor(tx)).argmax(1).numpy() == ty).mean())
    return epoch, accuracy


@pytest.mark.benchmark(group=CASE)
def test_lenet_three_epochs_against_torch(benchmark, record, fashion, initial_weights):
    orders = _epochs_of_batches(len(fashion[0][1]))
    ours, ours_accuracy = _sparktensor_trainer(fashion, initial_weights, orders)
    theirs, theirs_accuracy = _torch_trainer(fashion, initial_weights, orders)
    found = benchmark.pedantic(interleaved, ({"sparktensor": ours, "torch": theirs}, EPOCHS), rounds=1)
    record(CASE, "torch", found["sparktensor"], found["torch"])
    accuracy = {"sparktensor": ours_accuracy(), "torch": theirs_accuracy()}
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    print(f"\n{CASE}: seconds per epoch sparktensor {[round(t, 2) for t in found['sparktensor']]}, PyTorch "
          f"{[round(t, 2) for t in found['torch']]}; sparktensor / PyTorch {ratio} over {EPOCHS} interleaved epochs, "
          f"{torch.get_num_threads()} thread(s); test accuracy sparktensor {accuracy['sparktensor']:.4f}, "
          f"PyTorch {accuracy['torch']:.4f}")
    # the same model, weights, batches and optimizer: only float rounding differs. The two losses agree to 1e-7
    # for the first 50 steps; then, as the loss falls fastest, rounding differences grow (weights 4e-6 apart at
    # step 50, 2e-3 at step 100) and the runs end as two trajectories of one recipe, whose test accuracies
    # differed by 0.35 and 0.41 points in two runs
    assert accuracy["sparktensor"] > 0.85 and abs(accuracy["sparktensor"] - accuracy["torch"]) < 0.01
    assert np.isfinite(ratio.median)


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
