"""Sharded models on Spark ``local-cluster``: each rank's measured peak memory against the analytic 1/M share.

A model whose training state (weights, gradients, Adam's two moments: 4 P for P bytes of weights) is 1.5x one
rank's memory cap (``HybridTrainer(memory_limit=)``, an ``RLIMIT_AS`` on each rank's Python worker counted from
what it holds when the rank starts) is trained on ``local-cluster[2,1,1024]``:

* built under ``nn.init.deferred_init()`` at M = 1: runs out (4 P > cap);
* built under ``deferred_init()`` at M = 2: trains; each rank makes only its share;
* built as an ordinary model at M = 2: each rank receives the whole model pickled and unpickles it before
  sharding, today's path for an ordinary model.

Per rank: resident set when the rank started (``arrived``), its peak (``VmHWM`` of the fresh Python worker),
their difference (what training added), against the analytic share 4 P / M.

Run: ``python -m pytest bench/test_sharded_memory.py -s -q`` (``BENCH_SHARD_SIZES=2048-6``: width, layers).
"""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "dist"))
from test_dist_shard_init_cluster import launch  # noqa: E402

WIDTH, LAYERS = (int(s) for s in os.environ.get("BENCH_SHARD_SIZES", "2048-6").split("-"))


def _mib(n):
    return f"{n / 2 ** 20:,.1f}"


def test_per_rank_peak_memory_against_one_over_m():
    records = launch({"width": WIDTH, "layers": LAYERS, "runs": [[True, 1], [True, 2], [False, 2]]},
                     timeout=1200)
    first = records[0]
    print(f"\nmodel 64-{WIDTH}x{LAYERS}-10: P = {_mib(first['parameters'])} MiB of float32 weights, training "
          f"state 4 P = {_mib(first['training_state'])} MiB, cap {_mib(first['cap'])} MiB a rank "
          f"(4 P / cap = {first['training_state'] / first['cap']:.2f})")
    print("| model | M | result | rank | arrived MiB | peak MiB | added MiB | analytic 4P/M MiB | added / (4P/M) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        kind = "deferred" if r["deferred"] else "ordinary"
        if not r["trained"]:
            error = r["error"].split(";")[0][:90]
            print(f"| {kind} | {r['M']} | {error} | | | | | {_mib(r['training_state'] / r['M'])} | |")
            continue
        analytic = r["training_state"] / r["M"]
        for rank in r["ranks"]:
            added = rank["peak"] - rank["arrived"]
            print(f"| {kind} | {r['M']} | trained ({r['seconds']:.0f} s) | {rank['rank']} | {_mib(rank['arrived'])} "
                  f"| {_mib(rank['peak'])} | {_mib(added)} | {_mib(analytic)} | {added / analytic:.2f} |")
    deferred_one, deferred_two, ordinary_two = records
    assert not deferred_one["trained"] and "MemoryError" in deferred_one["error"]
    assert deferred_two["trained"]
    for rank in deferred_two["ranks"]:
        assert rank["peak"] - rank["arrived"] < deferred_two["cap"]
