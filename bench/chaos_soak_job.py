"""A chaos soak on ``local-cluster[2,1,1024]``: faults injected while training, and what survived them.

Usage: ``python bench/chaos_soak_job.py OUT.json [ROUNDS] [SEED]`` (run by ``bench/test_chaos_soak.py``; a
local-cluster needs a SparkContext of its own, hence a process of its own).

1. Data parallel: ``ParameterAveraging`` for ROUNDS rounds on data kept on the executors, while a thread
   kills, at random moments (every 2-4 s), a random Python worker of an executor or (the 2nd and 6th fault)
   a whole executor JVM, whose blocks are then rebuilt (the local-cluster's worker starts a new executor). The weights at the end must equal, bit
   for bit, those of ``LocalEngine`` on the same blocks.
2. Gangs: launches of a 2-rank gang in which, by turns, rank 1 hangs after the last collective, rank 1's
   process dies, or nothing happens; with ``attempts=2``. Each faulty launch must fail within its deadline
   naming rank 1 (hung or died), be relaunched, and give the same result as an undisturbed launch.

The JSON written holds every fault injected, when, and whether training lost anything.
"""
import json
import logging
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "dist"))

GANG_TIMEOUT = 5.0


def executor_processes():
    """``(executor JVMs, Python workers)`` under this driver, as psutil processes."""
    import psutil
    jvms, workers = [], []
    for process in psutil.Process().children(recursive=True):
        try:
            line = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if "CoarseGrainedExecutorBackend" in line:
            jvms.append(process)
        elif "pyspark" in line and ("worker" in line or "daemon" in line):
            workers.append(process)
    return jvms, workers


class Chaos(threading.Thread):
    """Every 2-4 s kills a random Python worker of an executor, or (the 2nd and 6th fault) an executor JVM."""

    JVM_FAULTS = (1, 5)  # which faults (counted from 0) kill a whole executor

    def __init__(self, seed):
        super().__init__(daemon=True)
        self.rng, self.faults = random.Random(seed), []
        self.stopping = threading.Event()
        self.start_time = time.monotonic()

    def run(self):
        while not self.stopping.wait(self.rng.uniform(2.0, 4.0)):
            jvms, workers = executor_processes()
            kill_jvm = len(self.faults) in self.JVM_FAULTS
            pool = jvms if kill_jvm else workers
            if not pool:
                continue
            victim = self.rng.choice(pool)
            try:
                victim.send_signal(signal.SIGKILL)
            except Exception:  # noqa: BLE001 - it ended on its own meanwhile
                continue
            self.faults.append({"at_s": round(time.monotonic() - self.start_time, 2),
                                "fault": "executor JVM killed" if kill_jvm else "Python worker killed",
                                "pid": victim.pid})

    def stop(self):
        self.stopping.set()
        self.join()


def data_parallel(spark, rounds, seed):
    import numpy as np

    import sparktensor.dist as dist
    from dist_helpers import digits, train_digits, weights
    x, y = digits()
    rows = [(pixels.tolist(), int(label)) for pixels, label in zip(x[:1200], y[:1200])]
    frame = spark.createDataFrame(spark.sparkContext.parallelize(rows, 2), "pixels array<float>, label long")
    data = dist.from_dataframe(frame, features="pixels", label="label")
    held_x, held_y = data.to_blocks().arrays()
    reference = dist.from_numpy(held_x, held_y, partitions=data.counts)
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("sparktensor.dist").addHandler(handler)
    chaos = Chaos(seed)
    start = time.monotonic()
    chaos.start()
    try:
        model, _, history = train_digits(dist.SparkEngine(spark), rounds=rounds, data=data, tau=20)
    finally:
        chaos.stop()
        logging.getLogger("sparktensor.dist").removeHandler(handler)
    seconds = time.monotonic() - start
    local, _, local_history = train_digits(dist.LocalEngine(), rounds=rounds, data=reference, tau=20)
    data.release()
    return {"rounds": len(history), "seconds": round(seconds, 1), "faults": chaos.faults,
            "bit_identical": bool(np.array_equal(weights(model), weights(local))),
            "same_losses": history["loss"] == local_history["loss"],
            "rebuilt_blocks_warnings": sum("not on their executors' disks" in w for w in warnings)}


def gang_fn(comm, marker, fault):
    """All-reduce; on the first launch (no ``marker`` yet) rank 1 hangs or dies after it, per ``fault``."""
    import numpy as np
    total = comm.all_reduce(np.arange(4.0) * (comm.rank + 1))
    if comm.rank == 1 and fault != "none" and not os.path.exists(marker):
        open(marker, "w").close()
        if fault == "hang":
            time.sleep(3600)
        os._exit(7)
    return total.tolist()


def wait_for_slots(sc, slots, timeout=120.0):
    """Wait until the cluster has ``slots`` task slots again (a killed executor's replacement has registered)."""
    from sparktensor.dist.engines.spark_gang import task_slots
    deadline = time.monotonic() + timeout
    while task_slots(sc) < slots and time.monotonic() < deadline:
        time.sleep(0.5)


def gangs(spark, launches, folder):
    import sparktensor.dist as dist
    wait_for_slots(spark.sparkContext, 2)
    engine = dist.SparkEngine(spark)
    clean = engine.run_gang(gang_fn, 2, os.path.join(folder, "unused"), "none", timeout=GANG_TIMEOUT)
    results = []
    for i in range(launches):
        fault = ("hang", "die", "none")[i % 3]
        marker = os.path.join(folder, f"gang-{i}")
        warnings = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: warnings.append(record.getMessage())
        logging.getLogger("sparktensor.dist").addHandler(handler)
        start = time.monotonic()
        try:
            out = engine.run_gang(gang_fn, 2, marker, fault, timeout=GANG_TIMEOUT, attempts=2)
        finally:
            logging.getLogger("sparktensor.dist").removeHandler(handler)
        failure = next((w for w in warnings if "launching it again" in w), None)
        named = failure is not None and (("rank 1 of 2 hung" in failure) if fault == "hang" else
                                         ("rank 1 of 2 failed in Spark" in failure) if fault == "die" else False)
        results.append({"fault": fault, "seconds": round(time.monotonic() - start, 1), "relaunched": failure is not None,
                        "named_rank_1": named, "same_result": out == clean,
                        "message": failure.splitlines()[0][:200] if failure else None})
    return results


def main(out, rounds=150, seed=0):
    import tempfile

    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("sparktensor-chaos-soak")
             .config("spark.pyspark.python", sys.executable)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.task.maxFailures", "8")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        report = {"master": spark.sparkContext.master, "data_parallel": data_parallel(spark, rounds, seed)}
        with tempfile.TemporaryDirectory() as folder:
            report["gangs"] = gangs(spark, 6, folder)
    finally:
        spark.stop()
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
