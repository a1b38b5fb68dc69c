"""Data-parallel training on Spark: scaling with workers, communication per round, and Spark's overhead.

* throughput with K = 2 workers against K = 1 (LeNet-5, Fashion-MNIST, tau 10; goal >= 1.7x on 2 cores), timed
  by the ``scaling`` fixture of ``sparktensor.scaling.plugin`` (docs/scaling.md), which also prints the speed-up,
  efficiency and SparkNet's projection at the end;
* time per round split into compute and communication for 1M- and 10M-parameter models (goal: communication
  per round <= 0.5 s for 10M parameters in local mode);
* Spark against the in-process engine for the same total steps: the overhead ratio.

Each Spark task gets ``spark.task.cpus`` (1) core and limits its BLAS to it, so K = 1 uses one core and
K = 2 both. Run: ``python -m pytest bench/test_scaling_data_parallel.py --benchmark-only -s -q``.
"""
import pathlib
import statistics
import sys

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import save_figures  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

SAMPLES, TAU, BATCH = 12_000, 10, 64
CASE = f"ParameterAveraging LeNet-5, {SAMPLES} Fashion-MNIST images, tau {TAU}, batch {BATCH}, one epoch"
THROUGHPUT = {}


@pytest.fixture(scope="module")
def engine():
    from sparktensor.dist.engines.session import embedded_session
    return dist.SparkEngine(embedded_session("local[2]"))


@pytest.fixture(scope="module")
def data():
    x, y = lenet.load("train", SAMPLES)
    return x, y


def _fit(engine, data, workers, samples=None, tau=TAU):
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=2e-3)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=tau, batch_size=BATCH,
                                      engine=engine, progress=False)
    x, y = data
    _, history = trainer.fit(dist.from_numpy(x[:samples], y[:samples], partitions=workers), epochs=1)
    return history


def _per_round(history, key, skip=0):
    return statistics.median(r[key] for r in list(history)[skip:])


@pytest.mark.scaling(engines=["spark"], workers=[1, 2])  # --st-engines / --st-workers choose others
@pytest.mark.benchmark(group=CASE)
def test_throughput(scaling, data):
    result = scaling(lenet.lenet5, data, loss=F.cross_entropy, optimizer=lambda p: st.optim.Adam(p, lr=2e-3),
                     tau=TAU, batch_size=BATCH, epochs=1, warmup=1)  # warm-up: Python workers started, model cached
    workers, throughput = result.workers, result.samples_per_second
    THROUGHPUT[result.engine, workers] = throughput
    compute, communication = result.compute_per_round, result.communication_per_round
    print(f"\nK={workers}: {throughput:.0f} samples/s, {result.rounds} rounds, per round compute "
          f"{compute:.3f} s, communication {communication:.3f} s")
    if result.engine == "spark":  # bench/plot.py's figures are Spark's
        save_figures("throughput", {str(workers): {"samples_per_second": throughput, "compute": compute,
                                                   "communication": communication}})
    if workers == 2 and (result.engine, 1) in THROUGHPUT:
        print(f"speed-up K=2 over K=1: {throughput / THROUGHPUT[result.engine, 1]:.2f}x (goal >= 1.7x)")
        assert throughput > THROUGHPUT[result.engine, 1]


def _mlp(hidden):
    """An MLP 784-h1-h2-10: ``(1024, 256)`` has 1.07M parameters, ``(2048, 4096)`` 10.0M."""
    st.manual_seed(0)
    sizes = (784,) + hidden + (10,)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@pytest.mark.parametrize("hidden,optimizer", [((1024, 256), "sgd"), ((2048, 4096), "sgd"), ((2048, 4096), "adam")],
                         ids=["1M-sgd", "10M-sgd", "10M-adam"])
@pytest.mark.benchmark(group="communication per round, K = 2, tau 1, batch 8")
def test_communication_per_round(benchmark, engine, hidden, optimizer):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((512, 784)).astype(np.float32), rng.integers(0, 10, 512)
    model = _mlp(hidden)
    params = sum(p.size for p in model.parameters())
    opt = st.optim.SGD(model.parameters(), lr=1e-3) if optimizer == "sgd" else st.optim.Adam(model.parameters())
    trainer = dist.ParameterAveraging(model, F.cross_entropy, opt, workers=2, tau=1, batch_size=8, engine=engine,
                                      progress=False)
    data = dist.from_numpy(x, y, partitions=2)
    _, history = benchmark.pedantic(trainer.fit, (data,), {"rounds": 8}, rounds=1)
    compute = _per_round(history, "compute_seconds", skip=1)  # round 1 also builds the model on the workers
    communication = _per_round(history, "communication_seconds", skip=1)
    buffer = dist.FlatLayout(model, opt).size if optimizer == "adam" else params
    print(f"\n{params / 1e6:.2f}M parameters, {optimizer}: broadcast buffer {4 * buffer / 2**20:.0f} MiB; per round "
          f"compute {compute:.3f} s, communication {communication:.3f} s")
    save_figures("communication", {f"{params / 1e6:.1f}M-{optimizer}": {
        "parameters": params, "buffer_bytes": 4 * buffer, "compute": compute, "communication": communication}})
    assert communication > 0


@pytest.mark.parametrize("where", ["in-process", "spark"])
@pytest.mark.benchmark(group="Spark against the in-process engine: LeNet-5, 4,000 images, K = 1, tau 10, 1 epoch")
def test_overhead_against_in_process(benchmark, engine, data, where, record):
    used = engine if where == "spark" else dist.LocalEngine(workers=1)
    _fit(used, data, 1, samples=4000)
    history = benchmark.pedantic(_fit, (used, data, 1), {"samples": 4000}, rounds=3)
    record(benchmark, "ParameterAveraging LeNet-5 4,000 images K=1 (Spark over in-process)",
           "sparktensor" if where == "spark" else "in-process engine")
    save_figures("overhead", {where: {"seconds": benchmark.stats.stats.median, "rounds": len(history)}})
