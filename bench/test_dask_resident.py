"""Data kept on the Dask workers (``from_dask``) against data scattered from the client (``from_numpy``).

* client memory against data size: Parquet tables of 0.25, 0.5, 1 and 2 GiB (64 float32 feature columns and
  an int64 label, files of 64 MiB) read with ``dask.dataframe.read_parquet`` into ``from_dask`` on a
  ``LocalCluster`` of 2 worker processes. Each size runs in a fresh process: its resident set is sampled every
  5 ms by a thread, and the peak while ``from_dask`` runs is compared with the resident set just before (the
  client process also runs the ``LocalCluster``'s scheduler). Goal: less than 150 MiB of growth at every size.
  For contrast, gathering the blocks to the client (what ``from_dask`` did before) at the two smaller sizes.
* per-round overhead and throughput of ``ParameterAveraging`` on the two paths, interleaved in rounds in one
  run on one ``DaskEngine(workers=2)``: near-empty rounds (Linear(4, 2), 64 samples, K = 2, tau 1), and an
  epoch of an MLP 64-256-256-10 on 40,000 samples (tau 10, batch 64). Ratios are resident / scattered.

Run: ``python -m pytest bench/test_dask_resident.py --benchmark-only -s -q`` (``BENCH_RESIDENT_GIB=0.25,0.5``
for a quick check, ``BENCH_RESIDENT_ROUNDS`` interleaved rounds, 3 by default).
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest

MIB = 1 << 20
FILE_BYTES = 64 * MIB
COLUMNS = 64
SIZES = [float(s) for s in os.environ.get("BENCH_RESIDENT_GIB", "0.25,0.5,1,2").split(",")]
ROUNDS = int(os.environ.get("BENCH_RESIDENT_ROUNDS", 3))
GOAL_MIB = 150


# ----- client memory -----
def _write_files(folder, count):
    """``count`` Parquet files of about 64 MiB each (random float32 features, integer labels), made once."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = FILE_BYTES // (4 * COLUMNS + 8)
    paths = []
    for i in range(count):
        path = folder / f"part-{i:03d}.parquet"
        if not path.exists():
            rng = np.random.default_rng(i)
            x = rng.standard_normal((rows, COLUMNS), dtype=np.float32)
            columns = {f"f{j}": x[:, j] for j in range(COLUMNS)} | {"label": rng.integers(0, 10, rows)}
            pq.write_table(pa.table(columns), path, compression="none", row_group_size=rows)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def parquet_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resident-parquet")
    return _write_files(folder, int(round(max(SIZES) * 1024 * MIB / FILE_BYTES)))


def _measure_client(paths, gather):
    """In a fresh process: the client's resident set before, at its peak during ``from_dask``, and after."""
    script = pathlib.Path(__file__).resolve()
    out = subprocess.run([sys.executable, str(script), "memory", json.dumps({"paths": paths, "gather": gather})],
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _client_memory_main(paths, gather):
    """The measuring process: a ``LocalCluster`` of 2 workers, one ``from_dask`` of ``paths``."""
    import threading

    import dask.dataframe as dd
    import psutil

    import sparktensor.dist as dist
    from sparktensor.dist.engines.dask import local_cluster
    client, cluster = local_cluster(2)
    features = [f"f{j}" for j in range(COLUMNS)]
    # warm-up on one small slice, so that imports and first-call caches are not counted as data
    dist.from_dask(dd.read_parquet(paths[:1]).partitions[0].head(100, compute=False), features=features,
                   label="label", client=client).release()
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)
    before = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    data = dist.from_dask(dd.read_parquet(paths), features=features, label="label", num_classes=10, client=client)
    if gather:
        blocks = data.to_blocks()
        assert len(blocks) == len(data)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    result = {"before": before, "peak": max(peak[0], process.memory_info().rss), "after": process.memory_info().rss,
              "samples": len(data), "partitions": data.num_partitions, "seconds": seconds,
              "data_bytes": len(data) * (4 * COLUMNS + 8)}
    data.release()
    client.close()
    cluster.close()
    print(json.dumps(result))


@pytest.mark.parametrize("gib", SIZES)
@pytest.mark.benchmark(group="client memory: from_dask(dd.read_parquet(...)) on a LocalCluster of 2 workers")
def test_client_memory_against_data_size(benchmark, parquet_files, gib):
    paths = parquet_files[:int(round(gib * 1024 * MIB / FILE_BYTES))]
    result = benchmark.pedantic(_measure_client, (paths, False), rounds=1, iterations=1)
    growth = (result["peak"] - result["before"]) / MIB
    line = (f"| {gib:g} GiB | {result['data_bytes'] / MIB:,.0f} MiB | {result['partitions']} | "
            f"{result['before'] / MIB:,.0f} MiB | {result['peak'] / MIB:,.0f} MiB | **{growth:,.1f} MiB** | "
            f"{result['seconds']:.1f} s |")
    if gib <= 0.5:
        gathered = _measure_client(paths, True)
        line += f" {(gathered['peak'] - gathered['before']) / MIB:,.1f} MiB |"
    else:
        line += " |"
    print("\n" + line)
    assert growth < GOAL_MIB, f"the client grew by {growth:.0f} MiB reading {gib} GiB"


# ----- overhead and throughput: resident against scattered -----
def _fit(engine, model_fn, data, rounds=None, epochs=None, tau=1, batch=8):
    import sparktensor as st
    import sparktensor.dist as dist
    import sparktensor.nn.functional as F
    st.manual_seed(0)
    model = model_fn()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.05), workers=2,
                                      tau=tau, batch_size=batch, engine=engine, progress=False)
    start = time.perf_counter()
    _, history = trainer.fit(data, rounds=rounds, epochs=epochs)
    wall = time.perf_counter() - start
    per_round = statistics.median(r["seconds"] for r in list(history)[1:])
    samples = sum(r["samples"] for r in history)
    return {"per_round": per_round, "samples_per_second": samples / wall,
            "weights": dist.FlatLayout(model).flatten(model)}


def _summary(name, ratios):
    return (f"| {name} | {statistics.median(ratios):.3f} | {min(ratios):.3f} | {max(ratios):.3f} | "
            f"{len(ratios)} |")


@pytest.mark.benchmark(group="resident (from_dask) against scattered (from_numpy) blocks, interleaved")
def test_overhead_and_throughput_against_the_scatter_path(benchmark):
    import dask.array as da

    import sparktensor.dist as dist
    import sparktensor.nn as nn
    rng = np.random.default_rng(0)
    tiny_x, tiny_y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    x = rng.standard_normal((40_000, 64)).astype(np.float32)
    y = (x[:, :10].argmax(axis=1)).astype(np.int64)
    with dist.DaskEngine(workers=2) as engine:
        client = engine.client
        resident_tiny = dist.from_dask(da.from_array(tiny_x, chunks=32), tiny_y, client=client)
        resident = dist.from_dask(da.from_array(x, chunks=(20_000, 64)), da.from_array(y, chunks=20_000),
                                  client=client)

        def tiny(data):
            return _fit(engine, lambda: nn.Linear(4, 2), data, rounds=30)

        def mlp(data):
            return _fit(engine, lambda: nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                                      nn.Linear(256, 10)), data, epochs=1, tau=10, batch=64)
        tiny(resident_tiny), tiny(dist.from_numpy(tiny_x, tiny_y, partitions=2))  # warm-up

        def interleaved():
            found = {"overhead": [], "throughput": [], "per_round_mlp": []}
            for _ in range(ROUNDS):
                old, new = tiny(dist.from_numpy(tiny_x, tiny_y, partitions=2)), tiny(resident_tiny)
                assert old["weights"].tobytes() == new["weights"].tobytes(), "both paths train to the same bits"
                found["overhead"].append((new["per_round"], old["per_round"]))
                old, new = mlp(dist.from_numpy(x, y, partitions=2)), mlp(resident)
                assert old["weights"].tobytes() == new["weights"].tobytes()
                found["throughput"].append((new["samples_per_second"], old["samples_per_second"]))
                found["per_round_mlp"].append((new["per_round"], old["per_round"]))
            return found
        found = benchmark.pedantic(interleaved, rounds=1, iterations=1)
    print("\n| measure (resident / scattered) | median | min | max | rounds |")
    print("|---|---|---|---|---|")
    print(_summary("per-round time, near-empty rounds", [a / b for a, b in found["overhead"]]))
    print(_summary("per-round time, MLP tau 10", [a / b for a, b in found["per_round_mlp"]]))
    print(_summary("samples/s, MLP one epoch (wall time of fit)", [a / b for a, b in found["throughput"]]))
    for name, pairs in found.items():
        scale, unit = (1e3, "ms") if name != "throughput" else (1, "samples/s")
        print(f"{name}: resident {[round(a * scale, 1) for a, _ in pairs]} {unit}, scattered "
              f"{[round(b * scale, 1) for _, b in pairs]} {unit}")


if __name__ == "__main__" and sys.argv[1:2] == ["memory"]:
    options = json.loads(sys.argv[2])
    _client_memory_main(options["paths"], options["gather"])
