"""Per-round overhead of parameter averaging through Spark Connect against classic Spark, both ``local[2]``.

One process cannot hold a classic SparkContext and a local Connect server (which lives in the JVM of the
process that starts it), so each runs in its own subprocess (this file with ``--serve classic|connect``),
both started once and kept warm. The bench then interleaves them: fit after fit, alternating which goes
first, each fit ``ROUNDS`` rounds of tau = 1 on the digits (its first round, which builds the model in the
Python workers, is left out). A round's time is the wall time of one ``map_reduce`` (weights out, one task
per partition, results back and summed); its overhead is that minus the slowest task's compute time.

Two models: a small MLP (10 KB of weights: every value travels inside the job) and a 4.3 MB one (the
weights and the summed results travel over the driver channel on both paths).

Run: ``python -m pytest bench/test_connect_overhead.py -s -q`` (``BENCH_CONNECT_FITS`` fits per engine and
model, default 5).
"""
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

ROUNDS = 11
MODELS = {"mlp 64-32-10 (10 KB)": (32,), "mlp 64-1024-1024-10 (4.3 MB)": (1024, 1024)}


def _fit(engine, hidden):
    """A fresh ParameterAveraging fit of ``ROUNDS`` rounds; per round ``(seconds, compute seconds)``."""
    from sklearn.datasets import load_digits

    import sparktensor as st
    import sparktensor.dist as dist
    import sparktensor.nn as nn
    import sparktensor.nn.functional as F
    x, y = load_digits(return_X_y=True)
    x, y = (x / 16).astype(np.float32), y.astype(np.int64)
    st.manual_seed(0)
    layers, width = [], 64
    for h in hidden:
        layers += [nn.Linear(width, h), nn.Tanh()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.05), workers=2,
                                      tau=1, batch_size=32, engine=engine, progress=False)
    _, history = trainer.fit(dist.from_numpy(x, y, partitions=2), rounds=ROUNDS)
    return [(r["seconds"], r["compute_seconds"], r["model_builds"]) for r in history][1:]


def serve(kind):
    """The subprocess: a warm engine of ``kind`` answering ``{"hidden": [...]}`` requests, one per line."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import sparktensor.dist as dist
    if kind == "connect":
        from sparktensor.dist.engines.connect import connect_session
        spark = connect_session("local[2]")
    else:
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
    engine = dist.SparkEngine(spark)
    print("@@ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("stop"):
            break
        print("@@result " + json.dumps(_fit(engine, request["hidden"])), flush=True)
    engine.close()
    spark.stop()


class _Server:
    def __init__(self, kind):
        self.kind = kind
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", kind],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("@@"):
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout=600):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise RuntimeError(f"the {self.kind} server exited with {self.process.poll()}")
        return line

    def fit(self, hidden):
        self.process.stdin.write(json.dumps({"hidden": list(hidden)}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.next()[len("@@result "):])

    def close(self):
        try:
            self.process.stdin.write(json.dumps({"stop": True}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


def _summary(values):
    return f"{statistics.median(values) * 1e3:.0f} ({min(values) * 1e3:.0f}-{max(values) * 1e3:.0f})"


def test_connect_round_overhead_against_classic():
    fits = int(os.environ.get("BENCH_CONNECT_FITS", "5"))
    servers = {kind: _Server(kind) for kind in ("classic", "connect")}
    try:
        for server in servers.values():
            assert server.next() == "@@ready"
        rounds = {(model, kind): [] for model in MODELS for kind in servers}
        start = time.perf_counter()
        for i in range(fits):
            for model, hidden in MODELS.items():
                order = ("classic", "connect") if i % 2 == 0 else ("connect", "classic")
                for kind in order:
                    rounds[model, kind] += servers[kind].fit(hidden)
        elapsed = time.perf_counter() - start
    finally:
        for server in servers.values():
            server.close()
    print(f"\n{fits} fits x {ROUNDS - 1} rounds per engine and model, interleaved, {elapsed:.0f} s")
    print("| model | engine | round ms, median (min-max) | overhead ms (round - compute), median (min-max) | "
          "model rebuilds after round 1 |")
    print("|---|---|---|---|---|")
    for (model, kind), found in rounds.items():
        seconds = [s for s, _, _ in found]
        overhead = [s - c for s, c, _ in found]
        builds = sum(b for _, _, b in found)
        print(f"| {model} | {kind} | {_summary(seconds)} | {_summary(overhead)} | {builds} |")
    for model in MODELS:
        classic = statistics.median([s - c for s, c, _ in rounds[model, "classic"]])
        connect = statistics.median([s - c for s, c, _ in rounds[model, "connect"]])
        print(f"{model}: Connect - classic overhead per round, medians: {(connect - classic) * 1e3:+.0f} ms")
    assert all(len(found) == fits * (ROUNDS - 1) for found in rounds.values())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        test_connect_round_overhead_against_classic()
