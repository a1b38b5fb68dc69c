"""The tau sweep and SparkNet's speedup model, measured on Spark (LeNet-5, Fashion-MNIST, Adam, batch 64).

* For tau in 1, 5, 10, 50 with K = 2 workers: wall time and rounds until the test accuracy first reaches 85%
  (evaluated every 50 local steps on 2,000 test images; evaluation time is not counted).
* K = 1 gives N_a, the serial steps to 85%.
* SparkNet's model (``../shared/DESIGN.md``): with C the time of one local step at batch b and S the time of one
  broadcast-and-collect, naive per-step averaging gives C / (C/K + S) and SparkNet gives
  N_a C / (M_a (tau C + S)), M_a being the rounds to 85%. C and S are measured here; the projection for
  K = 1..64 is written as a table (``bench/RESULTS.md``) and into ``bench/figures.json``. Assumed beyond
  K = 2: S grows by one tree level per doubling of K (S(K) = S max(1, log2 K), S the larger of the two
  measured), and the rounds to 85% shrink with K at the sample efficiency measured at K = 2.

Run: ``python -m pytest bench/test_tau_sweep.py --benchmark-only -s -q`` (about ten minutes on 2 cores).
"""
import math
import pathlib
import statistics
import sys
import time

import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import load_figures, save_figures  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import fashion_mnist_lenet as lenet  # noqa: E402

TARGET, BATCH, EVAL_STEPS, MAX_EPOCHS = 0.85, 64, 50, 3
MEASURED = {}  # (K, tau) -> {"rounds", "seconds", "compute_per_step", "communication"}


class _Reached(Exception):
    pass


@pytest.fixture(scope="module")
def engine():
    from sparktensor.dist.engines.session import embedded_session
    return dist.SparkEngine(embedded_session("local[2]"))


@pytest.fixture(scope="module")
def data():
    train, test = lenet.load("train"), lenet.load("test", 2000)
    return dist.from_numpy(*train, partitions=2), dist.from_numpy(*train, partitions=1), test


def _to_target(engine, data, workers, tau):
    """Train until 85% test accuracy; returns the rounds, training seconds and per-round times."""
    two, one, test = data
    st.manual_seed(0)
    model = lenet.lenet5()
    optimizer = st.optim.Adam(model.parameters(), lr=2e-3)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=tau, batch_size=BATCH,
                                      engine=engine, progress=False)
    records = []

    def stop_at_target(record):
        records.append(record)
        if record.get("accuracy") is not None and record["accuracy"] >= TARGET:
            raise _Reached

    try:
        trainer.fit(two if workers == 2 else one, epochs=MAX_EPOCHS, eval_data=test,
                    eval_every=max(1, EVAL_STEPS // tau), callback=stop_at_target)
    except _Reached:
        pass
    reached = records[-1].get("accuracy") is not None and records[-1]["accuracy"] >= TARGET
    steady = records[1:] or records  # the first round also builds the model on the workers
    return {"reached": reached, "rounds": len(records), "steps": len(records) * tau,
            "seconds": sum(r["seconds"] for r in records), "accuracy": records[-1].get("accuracy"),
            "compute_per_step": statistics.median(r["compute_seconds"] for r in steady) / tau,
            "communication": statistics.median(r["communication_seconds"] for r in steady)}


@pytest.mark.parametrize("workers,tau", [(1, 10), (2, 1), (2, 5), (2, 10), (2, 50)])
@pytest.mark.benchmark(group="rounds and time to 85% test accuracy, LeNet-5 on Fashion-MNIST")
def test_time_to_accuracy(benchmark, engine, data, workers, tau):
    result = benchmark.pedantic(_to_target, (engine, data, workers, tau), rounds=1)
    MEASURED[workers, tau] = result
    print(f"\nK={workers} tau={tau}: {'reached' if result['reached'] else 'did NOT reach'} "
          f"{TARGET:.0%} after {result['rounds']} rounds ({result['steps']} local steps per worker), "
          f"{result['seconds']:.1f} s of training; per step {1e3 * result['compute_per_step']:.1f} ms, "
          f"communication per round {result['communication']:.3f} s")
    save_figures("tau_sweep", {f"K{workers}-tau{tau}": result})
    assert result["rounds"] > 0


def _projection(measured):
    """SparkNet's projected speed-ups for K = 1..64 from the measured runs ``{(K, tau): result}``."""
    serial = measured[1, 10]
    c = serial["compute_per_step"]
    s1, s2 = serial["communication"], measured[2, 10]["communication"]
    n_a = serial["steps"]

    s_max = max(s1, s2)

    def s_of(k):  # trees of broadcast and aggregation: one more level per doubling of K, each costing S
        return s_max * max(1.0, math.log2(k))

    rows = {}
    taus = [tau for (k, tau) in sorted(measured) if k == 2 and measured[2, tau]["reached"]]
    for k in (1, 2, 4, 8, 16, 32, 64):
        row = {"naive": c / (c / k + s_of(k))}
        for tau in taus:
            m_a2 = measured[2, tau]["rounds"]
            if k == 1:
                row[f"tau{tau}"] = tau * c / (tau * c + s_of(1))
            elif k == 2:
                row[f"tau{tau}"] = n_a * c / (m_a2 * (tau * c + s_of(2)))  # the measured M_a
            else:  # the sample efficiency measured at K = 2 (rounds against the ideal N_a / (K tau)), kept
                efficiency = min(1.0, n_a / (2 * tau * m_a2))
                row[f"tau{tau}"] = efficiency * k * tau * c / (tau * c + s_of(k))
        rows[str(k)] = row
    return {"C": c, "S1": s1, "S2": s2, "N_a": n_a, "taus": taus, "projection": rows}


def test_speedup_model(benchmark):
    """SparkNet's projected speedup for K = 1..64 from the C, S, N_a and M_a of the tau sweep (this run's, or
    the last one saved in ``bench/figures.json``)."""
    measured = dict(MEASURED)
    for name, result in load_figures().get("tau_sweep", {}).items():
        workers, tau = (int(v) for v in name[1:].split("-tau"))
        measured.setdefault((workers, tau), result)
    if (1, 10) not in measured or (2, 10) not in measured:
        pytest.skip("needs the tau sweep of this file (K=1 and K=2 at tau 10)")
    model = benchmark.pedantic(_projection, (measured,), rounds=1)
    rows, taus = model["projection"], model["taus"]
    print(f"\nC = {1e3 * model['C']:.1f} ms per step (batch {BATCH}), S = {model['S1']:.3f} s (K=1), "
          f"{model['S2']:.3f} s (K=2), N_a = {model['N_a']} steps")
    print("| K | naive | " + " | ".join(f"SparkNet tau {t}" for t in taus) + " |")
    print("|---|---|" + "---|" * len(taus))
    for k, row in rows.items():
        print(f"| {k} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
    save_figures("speedup_model", model)
    assert rows["1"]["naive"] < 1
