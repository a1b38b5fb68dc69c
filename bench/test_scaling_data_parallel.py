"""Data-parallel scaling on Spark: throughput with K = 2 workers against K = 1 (LeNet-5, Fashion-MNIST, tau 10).

Each Spark task gets ``spark.task.cpus`` (1) core and limits its BLAS to it, so K = 1 uses one core and
K = 2 both. Run: ``python -m pytest bench/test_scaling_data_parallel.py --benchmark-only -s -q``.
"""
import pathlib
import sys

import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

SAMPLES, TAU, BATCH = 12_000, 10, 64
CASE = f"ParameterAveraging LeNet-5, {SAMPLES} Fashion-MNIST images, tau {TAU}, batch {BATCH}, one epoch"
THROUGHPUT = {}


@pytest.fixture(scope="module")
def engine():
    from sparktensor.dist.spark_engine import embedded_session
    return dist.SparkEngine(embedded_session("local[2]"))


@pytest.fixture(scope="module")
def data():
    x, y = lenet.load("train", SAMPLES)
    return x, y


def _fit(engine, data, workers):
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=2e-3)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=TAU, batch_size=BATCH,
                                      engine=engine, progress=False)
    _, history = trainer.fit(dist.from_numpy(*data, partitions=workers), epochs=1)
    return history


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.benchmark(group=CASE)
def test_throughput(benchmark, engine, data, workers):
    _fit(engine, data, workers)  # warm-up: Python workers started, model cached
    history = benchmark.pedantic(_fit, (engine, data, workers), rounds=1)
    samples = sum(r["samples"] for r in history)
    THROUGHPUT[workers] = samples / benchmark.stats.stats.median
    rounds = list(history)
    compute = sum(r["compute_seconds"] for r in rounds) / len(rounds)
    communication = sum(r["communication_seconds"] for r in rounds) / len(rounds)
    print(f"\nK={workers}: {THROUGHPUT[workers]:.0f} samples/s, {len(rounds)} rounds, per round compute "
          f"{compute:.3f} s, communication {communication:.3f} s")
    if len(THROUGHPUT) == 2:
        print(f"speed-up K=2 over K=1: {THROUGHPUT[2] / THROUGHPUT[1]:.2f}x (goal >= 1.7x)")
        assert THROUGHPUT[2] > THROUGHPUT[1]
