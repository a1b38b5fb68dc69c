"""One training job on a Parquet table kept on the executors, in its own process: the driver's peak memory.

    python bench/spark_driver_memory_job.py PATH ROWS [--path broadcast]

Writes (once) a Parquet table of ROWS rows of 1,000 float32 features and an int64 label to PATH, starts an
embedded ``local[2]`` Spark with ``spark.driver.memory=1g``, trains a 1000-10 linear classifier for 3 rounds of
parameter averaging on 2 workers, and prints one JSON line: the driver Python process's peak resident memory
(``ru_maxrss``) before and after, the rows, the bytes of the features and the seconds taken. With
``--path broadcast`` the table is gathered on the driver and trained on as ``from_numpy`` data (the old path).
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

FEATURES = 1000


def write_table(path, rows, group=20_000):
    """A Parquet file of ``rows`` samples, written a row group at a time (the writer never holds it all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    if os.path.exists(path):
        return
    schema = pa.schema([("features", pa.list_(pa.float32(), FEATURES)), ("label", pa.int64())])
    tmp = path + ".tmp"
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            x = rng.standard_normal((n, FEATURES), dtype=np.float32)
            y = (x[:, :10].argmax(axis=1)).astype(np.int64)
            features = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), FEATURES)
            writer.write_table(pa.table({"features": features, "label": pa.array(y)}, schema=schema))
    os.replace(tmp, path)


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("rows", type=int)
    parser.add_argument("--path-kind", default="resident", choices=["resident", "broadcast"])
    args = parser.parse_args()
    write_table(args.path, args.rows)

    import sparktensor as st
    import sparktensor.dist as dist
    import sparktensor.nn.functional as F
    from sparktensor.dist.engines.session import embedded_session
    spark = embedded_session("local[2]", {"spark.driver.memory": "1g"})
    before = peak_mib()
    start = time.perf_counter()
    data = dist.from_parquet(args.path, features="features", label="label", num_classes=10, spark=spark,
                             partitions=2)
    if args.path_kind == "broadcast":
        data = dist.from_numpy(*data.to_blocks().arrays(), partitions=2)
    st.manual_seed(0)
    model = st.nn.Linear(FEATURES, 10)
    optimizer = st.optim.SGD(model.parameters(), lr=0.01)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=5, batch_size=64,
                                      engine=dist.SparkEngine(spark), progress=False)
    _, history = trainer.fit(data, rounds=3)
    print(json.dumps({"rows": args.rows, "bytes": args.rows * FEATURES * 4, "path": args.path_kind,
                      "driver_peak_before_mib": before, "driver_peak_mib": peak_mib(),
                      "seconds": time.perf_counter() - start, "loss": history.last["loss"]}), flush=True)
    spark.stop()


if __name__ == "__main__":
    sys.exit(main())
