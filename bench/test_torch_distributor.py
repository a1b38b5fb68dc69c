"""Side by side with what a Spark user would pick instead: PyTorch DDP under ``TorchDistributor``.

Both train LeNet-5 on Fashion-MNIST (60,000 images, standardized) for 3 epochs with Adam (lr 2e-3) at batch 64
per worker, 2 workers on the same ``local[2]`` Spark, one thread per worker; the test accuracy on the 10,000
test images is taken after every epoch. PyTorch runs as 2 processes with gloo in one barrier stage
(``local_mode=False``). sparktensor runs SparkNet's parameter averaging with tau 10 twice: as the main job
(``sparktensor train``) runs it, one barrier stage of 2 ranks averaging over direct connections
(``HybridTrainer`` on a 2 x 1 mesh), and as ``ParameterAveraging``, one Spark job per round. Reported: wall
time of the 3 epochs (the Spark session is already running for all three), the final accuracy, and the time
each needs to reach the accuracy PyTorch ends with.

Run: ``python -m pytest bench/test_torch_distributor.py --benchmark-only -s -q``.
"""
import os
import pathlib
import sys
import time

import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import save_figures  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

EPOCHS = int(os.environ.get("BENCH_EPOCHS", 3))
BATCH, LR, WORKERS, TAU = 64, 2e-3, 2, 10
RESULTS = {}


@pytest.fixture(scope="module")
def spark():
    from sparktensor.dist.engines.session import embedded_session
    return embedded_session("local[2]")


def torch_train(epochs, batch, lr):
    """One rank of PyTorch DDP (runs in a Spark barrier task); rank 0 returns (seconds, accuracy) per epoch."""
    import numpy as np
    import torch
    import torch.distributed as tdist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from sparktensor.data import load_fashion_mnist

    torch.set_num_threads(1)
    tdist.init_process_group("gloo")
    rank, world = tdist.get_rank(), tdist.get_world_size()

    def load(split):
        x, y = load_fashion_mnist(split=split, normalize=True)
        x = ((x - 0.2860) / 0.3530).reshape(-1, 1, 28, 28).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    (x, y), (tx, ty) = load("train"), load("test")
    x, y = x[rank::world], y[rank::world]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(rank)
    steps = len(x) // batch
    curve, training = [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for b in range(steps):
            rows = order[b * batch:(b + 1) * batch]
            loss = nn.functional.cross_entropy(ddp(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        training += time.perf_counter() - start
        with torch.no_grad():
            accuracy = float((model(tx).argmax(1) == ty).float().mean())
        curve.append((training, accuracy))
    tdist.destroy_process_group()
    return curve if rank == 0 else None


@pytest.mark.benchmark(group="LeNet-5, Fashion-MNIST, 3 epochs, 2 workers on local[2]")
def test_torch_distributor(benchmark, spark):
    from pyspark import cloudpickle
    from pyspark.ml.torch.distributor import TorchDistributor
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors cannot import this file
    distributor = TorchDistributor(num_processes=WORKERS, local_mode=False, use_gpu=False)
    curve = benchmark.pedantic(distributor.run, (torch_train, EPOCHS, BATCH, LR), rounds=1)
    RESULTS["torch"] = {"wall": benchmark.stats.stats.median, "curve": curve}
    print(f"\nPyTorch + TorchDistributor: {benchmark.stats.stats.median:.1f} s, accuracy per epoch "
          f"{[round(a, 4) for _, a in curve]}, training seconds per epoch {[round(t, 1) for t, _ in curve]}")
    assert curve[-1][1] > 0.8


def _sparktensor_run(spark, trainer):
    train, test = lenet.load("train"), lenet.load("test")
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=LR)
    engine = dist.SparkEngine(spark)
    if trainer == "gang":  # what the main job runs
        trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=dist.Mesh(data=WORKERS, model=1),
                                     sync="average", tau=TAU, batch_size=BATCH, engine=engine, progress=False)
    else:
        trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=WORKERS, tau=TAU,
                                          batch_size=BATCH, engine=engine, progress=False)
    data = dist.from_numpy(*train, partitions=WORKERS)
    per_epoch = -(-len(train[1]) // WORKERS // BATCH)
    every = -(-per_epoch // TAU)  # rounds per epoch
    _, history = trainer.fit(data, epochs=EPOCHS, eval_data=dist.from_numpy(*test, partitions=WORKERS),
                             eval_every=every)
    curve, training = [], 0.0
    for record in history:
        training += record["seconds"]
        if record.get("accuracy") is not None:
            curve.append((training, record["accuracy"]))
    return curve


TRAINERS = {"gang": "one barrier stage (the main job's trainer)", "jobs": "ParameterAveraging, a Spark job a round"}


@pytest.mark.parametrize("trainer", list(TRAINERS))
@pytest.mark.benchmark(group="LeNet-5, Fashion-MNIST, 3 epochs, 2 workers on local[2]")
def test_sparktensor(benchmark, spark, trainer):
    curve = benchmark.pedantic(_sparktensor_run, (spark, trainer), rounds=1)
    name = "sparktensor" if trainer == "gang" else "sparktensor_jobs"
    RESULTS[name] = {"wall": benchmark.stats.stats.median, "curve": curve}
    print(f"\nsparktensor, parameter averaging tau {TAU}, {TRAINERS[trainer]}: {benchmark.stats.stats.median:.1f} s, "
          f"accuracy per epoch {[round(a, 4) for _, a in curve]}, training seconds per epoch "
          f"{[round(t, 1) for t, _ in curve]}")
    if "torch" in RESULTS:
        target = RESULTS["torch"]["curve"][-1][1]
        ours = next((t for t, a in curve if a >= target), None)
        theirs = next(t for t, a in RESULTS["torch"]["curve"] if a >= target)
        print(f"wall time against PyTorch's: {RESULTS[name]['wall'] / RESULTS['torch']['wall']:.2f}x; time to "
              f"PyTorch's final accuracy {target:.4f}: sparktensor {'not reached' if ours is None else f'{ours:.1f} s'}"
              f", PyTorch {theirs:.1f} s (training time)")
        save_figures("torch_distributor", {"torch": RESULTS["torch"], name: RESULTS[name], "target": target,
                                           f"{name}_to_target": ours, "torch_to_target": theirs})
    assert curve[-1][1] > 0.8
