"""Runs dist jobs on a ``local-cluster`` Spark (separate executor JVMs) in its own process, for the tests.

Usage: ``python cluster_runner.py MASTER``. Prints ``@@ready`` once the session is up, then reads one JSON
request per line from stdin (``{"job": name, "kwargs": {...}}``) and answers ``@@result <json>`` per request;
``{"job": "stop"}`` stops Spark and exits. Only one SparkContext may live in a process, which is why this
runs apart from the tests' ``local[2]`` session.
"""
import json
import os
import re
import shutil
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def train(spark, rounds, seed):
    """Parameter averaging of the digits MLP on the cluster; the weights and where the tasks ran."""
    import sparktensor.dist as dist
    from dist_helpers import train_digits, weights
    model, _, history = train_digits(dist.SparkEngine(spark), seed=seed, rounds=rounds)
    sc = spark.sparkContext
    places = sc.parallelize(range(8), 8).map(_where).distinct().collect()
    return {"weights": weights(model).tolist(), "loss": history["loss"], "builds": history["model_builds"],
            "executor_dirs": sorted(places), "master": sc.master}


def train_resident_killing_an_executor(spark, rounds, kill_after):
    """Parameter averaging on ``from_dataframe`` data kept on the executors; one executor JVM is killed after
    round ``kill_after``. Returns the weights, the in-process reference's, and the executor killed."""
    import signal

    import psutil

    import sparktensor.dist as dist
    from dist_helpers import digits, train_digits, weights
    x, y = digits()
    # two partitions with no shuffle in their lineage, so a lost one is recomputed with its rows in the same order
    rows = [(pixels.tolist(), int(label)) for pixels, label in zip(x[:600], y[:600])]
    frame = spark.createDataFrame(spark.sparkContext.parallelize(rows, 2), "pixels array<float>, label long")
    data = dist.from_dataframe(frame, features="pixels", label="label")
    held_x, held_y = data.to_blocks().arrays()
    reference = dist.from_numpy(held_x, held_y, partitions=data.counts)
    killed = []

    def kill(record):
        if record["round"] == kill_after:
            executors = []
            for process in psutil.Process().children(recursive=True):
                try:
                    if "CoarseGrainedExecutorBackend" in " ".join(process.cmdline()):
                        executors.append(process)
                except psutil.Error:  # a Python worker that ended while we looked
                    pass
            executors[0].send_signal(signal.SIGKILL)
            killed.append(executors[0].pid)

    model, _, history = train_digits(dist.SparkEngine(spark), rounds=rounds, data=data, callback=kill)
    local, _, local_history = train_digits(dist.LocalEngine(), rounds=rounds, data=reference)
    data.release()
    _wait_for_slots(spark.sparkContext, 2)  # the next job (a gang, say) finds the killed executor replaced
    return {"weights": weights(model).tolist(), "local": weights(local).tolist(), "killed": killed,
            "loss": history["loss"], "local_loss": local_history["loss"]}


def _wait_for_slots(sc, slots, timeout=120.0):
    """Wait until the cluster has ``slots`` task slots (a killed executor's replacement has registered)."""
    import time

    from sparktensor.dist.engines.spark_gang import task_slots
    deadline = time.monotonic() + timeout
    while task_slots(sc) < slots and time.monotonic() < deadline:
        time.sleep(0.5)


def _cluster_slots(master):
    """Task slots of a ``local-cluster[workers,cores,memory]`` master (1 for any other master)."""
    found = re.fullmatch(r"local-cluster\[(\d+),\s*(\d+),\s*\d+\]", master)
    return int(found.group(1)) * int(found.group(2)) if found else 1


def _where(_):
    return os.getcwd()  # each executor runs its Python workers in its own work directory


def main(master):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(master).appName("sparktensor-dist-cluster-tests")
             .config("spark.pyspark.python", sys.executable)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    # the session is up before the executor JVMs have registered: a first job could otherwise run all its tasks
    # on the executor that came first (and the other would build its model copy in a later round)
    _wait_for_slots(spark.sparkContext, _cluster_slots(master))
    work = None
    print("@@ready", flush=True)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request["job"] == "stop":
                break
            try:
                result = {"ok": globals()[request["job"]](spark, **request.get("kwargs", {}))}
            except Exception:
                result = {"error": traceback.format_exc()}
            if work is None and "executor_dirs" in result.get("ok", {}):
                work = result["ok"]["executor_dirs"]
            print("@@result " + json.dumps(result), flush=True)
    finally:
        spark.stop()
        # a local-cluster's workers write into <pyspark>/work/<app id>/; remove this application's directory
        for directory in work or ():
            app = os.path.dirname(directory)
            if os.path.basename(app).startswith("app-"):
                shutil.rmtree(app, ignore_errors=True)
                try:
                    os.rmdir(os.path.dirname(app))  # <pyspark>/work itself, unless another run uses it
                except OSError:
                    pass


if __name__ == "__main__":
    main(sys.argv[1])
