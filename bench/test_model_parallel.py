"""Model parallelism: step time at M = 1 against M = 2, bytes per step against the analytic count, a D x M table.

* A wide MLP (``BENCH_MP_SIZES``, default 2048-4096-4096-10, batch 256, float32; the issue's 4096-8192-8192-10
  takes several seconds a step on one core), one SGD step at a time, split over M = 1 and M = 2 ranks run as
  processes (``LocalEngine.run_gang(mode="processes")``, TCP over loopback). Each rank's BLAS gets one thread,
  so M = 2 uses both cores and M = 1 one of them; M = 1 with both threads for BLAS is measured too, as the
  reference a user of one process would compare with. Goal: M = 2 at least 1.6x faster than M = 1.
* Bytes each rank sends per step, counted by the communicator, against the analytic count: the MLP shards
  into a column/row pair and a last column-parallel layer that gathers; per step that is one all-reduce of
  (batch, hidden) forward (the row layer's partial sums), one backward (the last layer's input gradient), and
  an all-gather of the (batch, 10) logits. A ring all-reduce sends 2 (M - 1) / M of the buffer from each rank,
  an all-gather (M - 1) / M of the result.
* Samples per second of ``HybridTrainer`` on a 1x1, 2x1, 1x2 and 2x2 mesh (processes; one BLAS thread each).

Run: ``python -m pytest bench/test_model_parallel.py --benchmark-only -s -q``.
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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from figures import save_figures  # noqa: E402

SIZES = tuple(int(s) for s in os.environ.get("BENCH_MP_SIZES", "2048-4096-4096-10").split("-"))
BATCH, STEPS, TIMEOUT = 256, 5, 600.0
STEP_TIMES = {}


def wide_mlp(sizes=SIZES, seed=0):
    """Linear-ReLU blocks over ``sizes``, float32, the same weights on every rank that builds it."""
    st.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def timed_steps(comm, sizes, batch, steps, threads):
    """On one rank: shard the MLP, one warm-up step, then ``steps`` timed SGD steps; returns step times and bytes."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(threads):
        model = dist.shard(wide_mlp(sizes), comm)
        optimizer = st.optim.SGD(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        x = st.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
        y = st.tensor(rng.integers(0, sizes[-1], batch))
        times, sent = [], []
        for step in range(steps + 1):
            comm.barrier()
            before, start = comm.bytes_sent, time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
            sent.append(comm.bytes_sent - before)
        return {"step_seconds": statistics.median(times[1:]), "bytes_per_step": statistics.median(sent[1:]),
                "parameters": sum(p.size for p in model.parameters())}


def analytic_bytes(sizes, batch, world_size, itemsize=4):
    """Bytes one rank sends per step for ``wide_mlp(sizes)`` (three Linear layers) split over ``world_size``."""
    if world_size == 1:
        return 0
    share = (world_size - 1) / world_size
    hidden = batch * sizes[2] * itemsize  # the row layer's output, and the last layer's input gradient
    logits = batch * sizes[-1] * itemsize
    return 2 * share * hidden * 2 + share * logits


def _run(model_ranks, threads):
    return dist.LocalEngine().run_gang(timed_steps, model_ranks, SIZES, BATCH, STEPS, threads, mode="processes",
                                       timeout=TIMEOUT)


@pytest.mark.parametrize("model_ranks, threads", [(1, 2), (1, 1), (2, 1)], ids=["M=1 2 threads", "M=1", "M=2"])
@pytest.mark.benchmark(group=f"wide MLP {'-'.join(map(str, SIZES))} batch {BATCH}: SGD step split over M ranks")
def test_step_time(benchmark, model_ranks, threads):
    ranks = benchmark.pedantic(_run, (model_ranks, threads), rounds=1)
    seconds = max(r["step_seconds"] for r in ranks)
    sent = ranks[0]["bytes_per_step"]
    expected = analytic_bytes(SIZES, BATCH, model_ranks)
    name = f"M={model_ranks}" + (f" ({threads} BLAS threads)" if threads != 1 else "")
    STEP_TIMES[name] = seconds
    print(f"\n{name}: {seconds * 1e3:.0f} ms per step, {ranks[0]['parameters'] / 1e6:.1f}M parameters on rank 0, "
          f"{sent / 2**20:.2f} MiB sent per step by rank 0 (analytic {expected / 2**20:.2f} MiB)")
    if threads == 1:  # the figure compares one core per rank
        save_figures("model_parallel", {str(model_ranks): {"step_seconds": seconds, "bytes_per_step": sent,
                                                           "analytic_bytes": expected, "sizes": list(SIZES),
                                                           "batch": BATCH}})
    assert sent == pytest.approx(expected, rel=0.01)
    if "M=1" in STEP_TIMES and "M=2" in STEP_TIMES:
        speedup = STEP_TIMES["M=1"] / STEP_TIMES["M=2"]
        print(f"speed-up of M=2 over M=1: {speedup:.2f}x (goal >= 1.6x)")
        assert speedup > 1.0


class OneBlasThread(nn.Module):
    """Identity that limits BLAS to one thread in the rank process that runs it (not in the driver)."""

    def forward(self, x):
        import multiprocessing
        if multiprocessing.parent_process() is not None:
            from threadpoolctl import threadpool_limits
            threadpool_limits(1)
        return x


MESHES = [(1, 1), (2, 1), (1, 2), (2, 2)]
THROUGHPUT = {}


@pytest.mark.parametrize("data, model", MESHES, ids=[f"{d}x{m}" for d, m in MESHES])
@pytest.mark.benchmark(group="HybridTrainer samples per second, MLP 1024-2048-2048-10, batch 128 per replica")
def test_mesh_throughput(benchmark, data, model):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4096, 1024)).astype(np.float32), rng.integers(0, 10, 4096)
    net = nn.Sequential(OneBlasThread(), *wide_mlp((1024, 2048, 2048, 10)))
    trainer = dist.HybridTrainer(net, F.cross_entropy, st.optim.SGD(net.parameters(), lr=1e-3),
                                 mesh=dist.Mesh(data=data, model=model), tau=4, batch_size=128,
                                 engine=dist.LocalEngine(), gang={"mode": "processes", "timeout": TIMEOUT})
    _, history = benchmark.pedantic(trainer.fit, (dist.from_numpy(x, y, partitions=data),), {"rounds": 4},
                                    rounds=1)
    rates = [r["samples_per_second"] for r in list(history)[1:]]  # round 1 includes the first, slower steps
    THROUGHPUT[f"{data}x{model}"] = statistics.median(rates)
    print(f"\nD x M = {data} x {model}: {THROUGHPUT[f'{data}x{model}']:.0f} samples/s")
    save_figures("mesh", {f"{data}x{model}": {"samples_per_second": THROUGHPUT[f"{data}x{model}"]}})
    if len(THROUGHPUT) == len(MESHES):
        print("| D x M | samples/s |\n|---|---|")
        for mesh, rate in THROUGHPUT.items():
            print(f"| {mesh} | {rate:.0f} |")
    assert THROUGHPUT[f"{data}x{model}"] > 0
