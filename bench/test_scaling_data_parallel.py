"""Data-parallel training on Spark: scaling with workers, communication per round, and Spark's overhead.

* throughput with K = 2 workers against K = 1 (LeNet-5, Fashion-MNIST, tau 10; goal >= 1.7x on 2 cores): the two
  worker counts are timed in interleaved rounds (one epoch of K = 1 then one of K = 2, the order flipped every
  round), each run built and measured as the ``scaling`` fixture of ``sparktensor.scaling`` does
  (docs/scaling.md), whose table (speed-up, efficiency, SparkNet's projection) is printed with the figures;
* time per round split into compute and communication for 1M- and 10M-parameter models (goal: communication
  per round <= 0.5 s for 10M parameters in local mode);
* Spark against the in-process engine for the same total steps (K = 1), the two engines timed in interleaved
  rounds the same way: the overhead ratio.

The ratios are the median (min-max) of the rounds' ratios (``bench/interleave.py``); one Spark session
(``local[2]``) stays up for the whole module. Each Spark task gets ``spark.task.cpus`` (1) core and limits its
BLAS to it, so K = 1 uses one core and K = 2 both. Run:
``python -m pytest bench/test_scaling_data_parallel.py --benchmark-only -s -q`` (``BENCH_ROUNDS``, default 5;
``BENCH_SCALING_SAMPLES=2000`` for a quick check, by default 12,000 images).
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
from sparktensor.scaling.results import Group, measure_history

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import save_figures  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

SAMPLES, TAU, BATCH = int(os.environ.get("BENCH_SCALING_SAMPLES", 12_000)), 10, 64
OVERHEAD_SAMPLES = min(4_000, SAMPLES)
CASE = f"ParameterAveraging LeNet-5, {SAMPLES} Fashion-MNIST images, tau {TAU}, batch {BATCH}, one epoch"


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


def _timed(fit, histories):
    """A side for ``interleaved``: seconds of one ``fit()``, its History appended to ``histories``."""
    def measure():
        start = time.perf_counter()
        histories.append(fit())
        return time.perf_counter() - start
    return measure


@pytest.mark.benchmark(group=CASE)
def test_throughput(benchmark, engine, data):
    histories, sides = {}, {}
    for workers in (1, 2):
        _fit(engine, data, workers)  # warm-up: Python workers started, model cached
        histories[workers] = []
        sides[workers] = _timed(lambda workers=workers: _fit(engine, data, workers), histories[workers])
    found = benchmark.pedantic(interleaved, (sides, ROUNDS), rounds=1)
    group = Group(CASE, "spark")
    per_sample = {}  # seconds per sample trained, so that a ratio of two of them is a ratio of throughputs
    for workers, runs in histories.items():
        per_sample[workers] = [seconds / sum(r["samples"] for r in history)
                               for seconds, history in zip(found[workers], runs)]
        result = measure_history(runs[-1], CASE, "spark", workers, TAU, BATCH, statistics.median(found[workers]))
        result.compute_per_round = statistics.median(_per_round(history, "compute_seconds") for history in runs)
        result.communication_per_round = statistics.median(_per_round(history, "communication_seconds")
                                                           for history in runs)
        group.add(result)
        print(f"\nK={workers}: {result.samples_per_second:.0f} samples/s, {result.rounds} rounds, per round compute "
              f"{result.compute_per_round:.3f} s, communication {result.communication_per_round:.3f} s")
        save_figures("throughput", {str(workers): {"samples_per_second": result.samples_per_second,
                                                   "compute": result.compute_per_round,
                                                   "communication": result.communication_per_round}})
    speedup = ratio_summary(per_sample[1], per_sample[2])
    print(f"speed-up K=2 over K=1 (throughput ratio): {speedup} (goal >= 1.7x; {ROUNDS} interleaved rounds)")
    print("\n".join(group.table()))
    assert speedup.median > 1


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


@pytest.mark.benchmark(group=f"Spark against the in-process engine: LeNet-5, {OVERHEAD_SAMPLES:,} images, K = 1, "
                             f"tau 10, 1 epoch")
def test_overhead_against_in_process(benchmark, engine, data, record):
    histories, sides = {}, {}
    for where, used in (("in-process", dist.LocalEngine(workers=1)), ("spark", engine)):
        _fit(used, data, 1, samples=OVERHEAD_SAMPLES)  # warm-up
        histories[where] = []
        sides[where] = _timed(lambda used=used: _fit(used, data, 1, samples=OVERHEAD_SAMPLES), histories[where])
    found = benchmark.pedantic(interleaved, (sides, ROUNDS), rounds=1)
    record(f"ParameterAveraging LeNet-5 {OVERHEAD_SAMPLES:,} images K=1 (Spark over in-process)", "in-process engine",
           found["spark"], found["in-process"])
    for where, seconds in found.items():
        save_figures("overhead", {where: {"seconds": statistics.median(seconds), "rounds": len(histories[where][-1])}})
    ratio = ratio_summary(found["spark"], found["in-process"])
    print(f"\nSpark / in-process, LeNet-5 {OVERHEAD_SAMPLES:,} images, K = 1: {ratio} ({ROUNDS} interleaved rounds)")
    assert np.isfinite(ratio.median)
