"""Data-parallel training on Dask beside Spark, in one run: overhead per round and throughput for K = 1, 2.

* overhead per round: rounds with almost nothing to compute (a 4-2 linear model, 64 samples, K = 2, tau 1,
  batch 8) on the in-process engine, Spark (``local[2]``) and Dask (a ``LocalCluster`` of 2 single-threaded
  worker processes): what one broadcast, two tasks and one collect cost each engine;
* throughput: ``ParameterAveraging`` of LeNet-5 on a Fashion-MNIST subset, tau 10, batch 64, one epoch, with
  K = 1 and K = 2 workers, on Spark and on Dask.

The configurations are timed in interleaved rounds (``bench/interleave.py``), the engines staying up for the
whole module: a round runs one fit of every configuration in turn (in-process, Spark, Dask; or Spark K = 1,
Spark K = 2, Dask K = 1, Dask K = 2), the order flipped every round, each after one untimed warm-up fit. Ratios
(Dask over Spark, Dask over in-process, K = 2 over K = 1) are the median (min-max) of the rounds' ratios.

Both engines limit BLAS to one thread per task, so K = 1 uses one core and K = 2 both.
Run: ``python -m pytest bench/test_engines_dask.py --benchmark-only -s -q`` (``BENCH_DASK_SAMPLES=2000`` for a
quick check; ``BENCH_ROUNDS``, default 5; the figures below the table go to ``bench/figures.json``).
"""
import os
import pathlib
import statistics
import sys
import time

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from interleave import ROUNDS, interleaved, ratio_summary

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import save_figures  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

SAMPLES = int(os.environ.get("BENCH_DASK_SAMPLES", 12_000))
TAU, BATCH = 10, 64


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


def _timed(fit, histories):
    """A side for ``interleaved``: seconds of one ``fit()``, its History appended to ``histories``."""
    def measure():
        start = time.perf_counter()
        histories.append(fit())
        return time.perf_counter() - start
    return measure


@pytest.mark.benchmark(group="overhead per round: Linear(4, 2), 64 samples, K = 2, tau 1, 30 rounds")
def test_overhead_per_round(benchmark, engines, record):
    histories, sides = {}, {}
    for where in ("in-process", "spark", "dask"):
        engine = engines(where)
        _tiny_fit(engine, rounds=3)  # warm-up: workers started, libraries imported
        histories[where] = []
        sides[where] = _timed(lambda engine=engine: _tiny_fit(engine), histories[where])
    found = benchmark.pedantic(interleaved, (sides, ROUNDS), rounds=1)
    for where, runs in histories.items():
        per_round = statistics.median(_per_round(history, "seconds") for history in runs)
        compute = statistics.median(_per_round(history, "compute_seconds") for history in runs)
        print(f"\n{where}: {per_round * 1e3:.1f} ms per round (compute {compute * 1e3:.1f} ms)")
        save_figures("dask_overhead_per_round", {where: {"seconds_per_round": per_round}})
        assert per_round > 0
    case = "overhead of 30 near-empty rounds, K = 2 (Dask over {})"
    record(case.format("Spark"), "Spark", found["dask"], found["spark"])
    record(case.format("in-process"), "in-process engine", found["dask"], found["in-process"])
    print(f"30 rounds, Dask / Spark {ratio_summary(found['dask'], found['spark'])}, Dask / in-process "
          f"{ratio_summary(found['dask'], found['in-process'])} ({ROUNDS} interleaved rounds)")


def _lenet_fit(engine, data, workers):
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=2e-3)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=TAU, batch_size=BATCH,
                                      engine=engine, progress=False)
    x, y = data
    _, history = trainer.fit(dist.from_numpy(x, y, partitions=workers), epochs=1)
    return history


@pytest.mark.benchmark(group=f"ParameterAveraging LeNet-5, {SAMPLES} Fashion-MNIST images, tau {TAU}, one epoch")
def test_throughput(benchmark, engines, data, record):
    configurations = [(where, workers) for where in ("spark", "dask") for workers in (1, 2)]
    histories, sides = {}, {}
    for where, workers in configurations:
        engine = engines(where)
        _lenet_fit(engine, data, workers)  # warm-up
        histories[where, workers] = []
        sides[where, workers] = _timed(lambda engine=engine, workers=workers: _lenet_fit(engine, data, workers),
                                       histories[where, workers])
    found = benchmark.pedantic(interleaved, (sides, ROUNDS), rounds=1)
    # seconds per sample trained, so that a ratio of two of them is a ratio of throughputs
    per_sample = {key: [seconds / sum(r["samples"] for r in history)
                        for seconds, history in zip(found[key], histories[key])] for key in configurations}
    for (where, workers), runs in histories.items():
        throughput = 1 / statistics.median(per_sample[where, workers])
        compute = statistics.median(_per_round(history, "compute_seconds") for history in runs)
        communication = statistics.median(_per_round(history, "communication_seconds") for history in runs)
        print(f"\n{where} K={workers}: {throughput:.0f} samples/s, {len(runs[-1])} rounds, per round compute "
              f"{compute:.3f} s, communication {communication:.3f} s")
        save_figures("dask_throughput", {f"{where}-K{workers}": {
            "samples_per_second": throughput, "compute": compute, "communication": communication}})
    for workers in (1, 2):
        record(f"LeNet-5 one epoch of {SAMPLES} images, K = {workers} (Dask over Spark)", "Spark",
               found["dask", workers], found["spark", workers])
    speedups = {where: ratio_summary(per_sample[where, 1], per_sample[where, 2]) for where in ("spark", "dask")}
    for where, speedup in speedups.items():
        print(f"{where}: speed-up K=2 over K=1 (throughput ratio): {speedup} ({ROUNDS} interleaved rounds)")
    assert all(speedup.median > 1 for speedup in speedups.values()), speedups
