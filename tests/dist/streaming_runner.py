"""A partition larger than its Python worker's memory: read in passes through the executor's block file.

Usage: ``python streaming_runner.py``. Starts its own ``local[1]`` Spark whose Python workers are not reused
(the memory cap a task sets dies with its worker), builds one partition of ``ROWS`` x 1,000 float32 on the
executor, then runs a task that caps its worker's data segment (``RLIMIT_DATA``: heap and anonymous memory)
at well under the partition's size, reads every sample in slices, and then tries to copy the partition into
memory. Prints one JSON line.
"""
import functools
import json
import resource
import sys

import numpy as np

ROWS, FEATURES, CAP = 24_000, 1000, 32 << 20  # a 92 MiB partition; 32 MiB more than the worker holds


def _samples(index, _):
    rng = np.random.default_rng(index)
    for start in range(0, ROWS, 4000):
        for row in rng.standard_normal((4000, FEATURES), dtype=np.float32):
            yield row, int(row[0] > 0)


def _data_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def _capped_pass(index, block):
    x, y = block
    cap = _data_bytes() + CAP
    resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    total = 0.0
    for start in range(0, len(x), 1000):  # every sample, 1,000 rows at a time
        total += float(x[start:start + 1000].sum(dtype=np.float64))
    try:
        np.array(x)
        copied = True
    except MemoryError:
        copied = False
    return {"rows": len(x), "block_bytes": int(x.nbytes), "cap_over_baseline": CAP, "sum": total,
            "copy_fits": copied}


def main():
    from pyspark.sql import SparkSession

    import sparktensor.dist as dist
    spark = (SparkSession.builder.master("local[1]").appName("sparktensor-streaming-test")
             .config("spark.pyspark.python", sys.executable)
             .config("spark.python.worker.reuse", "false")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        rdd = spark.sparkContext.parallelize([0], 1).mapPartitionsWithIndex(_samples)
        data = dist.from_rdd(rdd, dtype="float32")
        engine = dist.SparkEngine(spark)
        placed = engine.place(data)
        result = engine.map_reduce(placed, _capped_pass, (), lambda a, b: a)
        expected = sum(float(np.random.default_rng(0).standard_normal((ROWS, FEATURES), dtype=np.float32)
                             [s:s + 1000].sum(dtype=np.float64)) for s in range(0, ROWS, 1000))
        result["expected_sum"] = expected
        data.release()
    finally:
        spark.stop()
    print("@@result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
