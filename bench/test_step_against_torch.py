"""Training steps against PyTorch CPU, the two libraries interleaved in rounds within one process.

One step is forward, cross-entropy, backward and an SGD update with momentum, from the same weights on the same
batch (asserted: one step of each lands on the same weights). Cases:

* MLP 784-512-512-10, batch 128;
* LeNet-5 (28x28, batch 64);
* a 2-layer LSTM of 256 units over 35 steps, batch 32, its last step to a linear head;
* the small VGG (``models.vgg_small``: 32-32, 64-64, 128-128 channels, batch norm) on 28x28, batch 32.

Each round times ``STEPS`` steps of one side after two warm-up steps and keeps their median, then the other side;
the order flips every round so that the machine's drift favours neither. The ratio is sparktensor's time over
PyTorch's, reported as the median (min-max) of the rounds' ratios. Both sides run on ``BENCH_THREADS`` threads
(default all cores; asserted equal). Goal: <= 1.0 for every case.

Run: ``python -m pytest bench/test_step_against_torch.py --benchmark-only -s -q`` (``BENCH_STEP_ROUNDS``, default
5; ``BENCH_STEP_STEPS``, default 30).
"""
import os
import statistics
import time

import numpy as np
import pytest
import torch

import sparktensor as st
from interleave import interleaved, ratio_summary, same_threads
from sparktensor.models import vgg_small

ROUNDS = int(os.environ.get("BENCH_STEP_ROUNDS", 5))
STEPS = int(os.environ.get("BENCH_STEP_STEPS", 30))


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def lstm(lib):
    class LastStep(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lib.nn.LSTM(256, 256, 2)
            self.head = lib.nn.Linear(256, 10)

        def forward(self, x):
            output, _ = self.lstm(x)
            return self.head(output[-1])
    return LastStep()


def vgg(lib):
    if lib is st:
        return vgg_small(1, 10, 28)
    nn = torch.nn

    class TorchVGG(nn.Module):  # the same layout as models.VGG, so the state dict carries over
        def __init__(self):
            super().__init__()
            layers, channels = [], 1
            for widths in ((32, 32), (64, 64), (128, 128)):
                for width in widths:
                    layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
                    channels = width
                layers.append(nn.MaxPool2d(2))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.Dropout(0.3),
                                            nn.Linear(256, 10))

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))
    return TorchVGG()


CASES = {  # name: (builder, input shape, batch)
    "MLP 784-512-512-10, batch 128": (mlp, (128, 784)),
    "LeNet-5 28x28, batch 64": (lenet, (64, 1, 28, 28)),
    "LSTM 2x256, seq 35, batch 32, last step to a linear head": (lstm, (35, 32, 256)),
    "small VGG 28x28, batch 32": (vgg, (32, 1, 28, 28)),
}


def build(lib, name):
    """The case's network with weights drawn once (PyTorch's init), SGD with momentum, one batch of data."""
    builder, shape = CASES[name]
    torch.manual_seed(0)
    reference = builder(torch)
    model = reference if lib is torch else builder(st)
    if lib is st:
        model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    for module in model.modules():
        if type(module).__name__ == "Dropout":
            module.p = 0.0  # both sides must compute the same step
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, shape[1] if name.startswith("LSTM") else shape[0]))
    return model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), x, y, lib


def step(model, optimizer, x, y, lib):
    loss = lib.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def median_step_seconds(side, steps=STEPS):
    for _ in range(2):
        step(*side)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(*side)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.parametrize("name", list(CASES))
def test_training_step_against_pytorch(benchmark, record, name):
    same_threads()
    ours, theirs = build(st, name), build(torch, name)
    # one step from the same weights lands on the same weights: the two sides do the same work
    assert step(*ours).item() == pytest.approx(step(*theirs).item(), rel=1e-4)
    expected = theirs[0].state_dict()
    for key, value in ours[0].state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key].numpy(), rtol=1e-3, atol=1e-5, err_msg=key)
    found = benchmark.pedantic(interleaved, ({"sparktensor": lambda: median_step_seconds(ours),
                                              "torch": lambda: median_step_seconds(theirs)}, ROUNDS), rounds=1)
    ratio = ratio_summary(found["sparktensor"], found["torch"])
    record(f"training step: {name}", "torch", found["sparktensor"], found["torch"])
    print(f"\n| {name} | {statistics.median(found['sparktensor']) * 1e3:.2f} ms | "
          f"{statistics.median(found['torch']) * 1e3:.2f} ms | {ratio} | {torch.get_num_threads()} threads, "
          f"{ROUNDS} rounds of {STEPS} |")
    assert all(np.isfinite(ratio))
