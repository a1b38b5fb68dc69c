"""Data-parallel training on Dask beside Spark, in one run: overhead per round and throughput for K = 1, 2.

* overhead per round: rounds with almost nothing to compute (a 4-2 linear model, 64 samples, K = 2, tau 1,
  batch 8) on the in-process engine, Spark (``local[2]``) and Dask (a ``LocalCluster`` of 2 single-threaded
  worker processes): what one broadcast, two tasks and one collect cost each engine;
* throughput: ``ParameterAveraging`` of LeNet-5 on a Fashion-MNIST subset, tau 10, batch 64, one epoch, with
  K = 1 and K = 2 workers, on Spark and on Dask.

Both engines limit BLAS to one thread per task, so K = 1 uses one core and K = 2 both.
Run: ``python -m pytest bench/test_engines_dask.py --benchmark-only -s -q`` (``BENCH_DASK_SAMPLES=2000`` for a
quick check; the figures below the table go to ``bench/figures.json``).
"""
import os
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

SAMPLES = int(os.environ.get("BENCH_DASK_SAMPLES", 12_000))
TAU, BATCH = 10, 64
THROUGHPUT = {}


@pytest.fixture(scope="module")
def engines():
    """The engines, each started on first use and closed at the end of the module."""
    made = {}

    def get(name):
        if name not in made:
            if name == "spark":
                from sparktensor.dist.engines.session import embedded_session
                made[name] = dist.SparkEngine(embedded_session("local[2]"))
            elif name == "dask":
                made[name] = dist.DaskEngine(workers=2)
            else:
                made[name] = dist.LocalEngine(workers=2)
        return made[name]
    yield get
    if "dask" in made:
        made["dask"].close()


@pytest.fixture(scope="module")
def data():
    return lenet.load("train", SAMPLES)


def _per_round(history, key, skip=1):
    """The median of ``key`` over the rounds after the first (which also builds the model on the workers)."""
    return statistics.median(r[key] for r in list(history)[skip:])


def _tiny_fit(engine, rounds=30):
    st.manual_seed(0)
    model = nn.Linear(4, 2)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1), workers=2,
                                      tau=1, batch_size=8, engine=engine, progress=False)
    _, history = trainer.fit(dist.from_numpy(x, y, partitions=2), rounds=rounds)
    return history


@pytest.mark.parametrize("where", ["in-process", "spark", "dask"])
@pytest.mark.benchmark(group="overhead per round: Linear(4, 2), 64 samples, K = 2, tau 1, 30 rounds")
def test_overhead_per_round(benchmark, engines, where, record):
    engine = engines(where)
    _tiny_fit(engine, rounds=3)  # warm-up: workers started, libraries imported
    history = benchmark.pedantic(_tiny_fit, (engine,), rounds=3)
    per_round = _per_round(history, "seconds")
    print(f"\n{where}: {per_round * 1e3:.1f} ms per round (compute {_per_round(history, 'compute_seconds') * 1e3:.1f} "
          f"ms)")
    save_figures("dask_overhead_per_round", {where: {"seconds_per_round": per_round}})
    record(benchmark, "overhead of 30 near-empty rounds, K = 2 (Dask over Spark)",
           {"dask": "sparktensor", "spark": "Spark"}.get(where, "in-process engine"))
    assert per_round > 0


def _lenet_fit(engine, data, workers):
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=2e-3)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=TAU, batch_size=BATCH,
                                      engine=engine, progress=False)
    x, y = data
    _, history = trainer.fit(dist.from_numpy(x, y, partitions=workers), epochs=1)
    return history


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("where", ["spark", "dask"])
@pytest.mark.benchmark(group=f"ParameterAveraging LeNet-5, {SAMPLES} Fashion-MNIST images, tau {TAU}, one epoch")
def test_throughput(benchmark, engines, data, where, workers, record):
    engine = engines(where)
    _lenet_fit(engine, data, workers)  # warm-up
    history = benchmark.pedantic(_lenet_fit, (engine, data, workers), rounds=1)
    samples = sum(r["samples"] for r in history)
    THROUGHPUT[where, workers] = samples / benchmark.stats.stats.median
    compute, communication = _per_round(history, "compute_seconds"), _per_round(history, "communication_seconds")
    print(f"\n{where} K={workers}: {THROUGHPUT[where, workers]:.0f} samples/s, {len(history)} rounds, per round "
          f"compute {compute:.3f} s, communication {communication:.3f} s")
    save_figures("dask_throughput", {f"{where}-K{workers}": {
        "samples_per_second": THROUGHPUT[where, workers], "compute": compute, "communication": communication}})
    record(benchmark, f"LeNet-5 one epoch of {SAMPLES} images, K = {workers} (Dask over Spark)",
           "sparktensor" if where == "dask" else "Spark")
    if (where, 1) in THROUGHPUT and (where, 2) in THROUGHPUT:
        print(f"{where}: speed-up K=2 over K=1: {THROUGHPUT[where, 2] / THROUGHPUT[where, 1]:.2f}x")
        assert THROUGHPUT[where, 2] > THROUGHPUT[where, 1]
