"""Spark data kept on the executors: from_dataframe / from_rdd / from_parquet build, check and keep the blocks there."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F
from dist_helpers import digits, mlp, weights
from sparktensor.dist.data import block_files


def _frame(spark, x, y, partitions):
    import pandas as pd
    frame = pd.DataFrame({"pixels": list(x), "label": y})
    return spark.createDataFrame(frame).coalesce(1).repartition(partitions)


def _train(engine, data, eval_data=None, rounds=4, trainer=dist.ParameterAveraging, callback=None, **options):
    model = mlp()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    options = dict(dict(tau=3) if trainer is dist.ParameterAveraging else {}, **options)
    run = trainer(model, F.cross_entropy, optimizer, workers=2, batch_size=32, seed=0, engine=engine,
                  progress=False, **options)
    model, history = run.fit(data, rounds=rounds, eval_data=eval_data, callback=callback)
    return weights(model), history


def test_dataframe_blocks_stay_on_the_executors_and_train_as_in_one_process(spark):
    x, y = digits()
    data = dist.from_dataframe(_frame(spark, x[:600], y[:600], 3), features="pixels", label="label")
    held = dist.from_dataframe(_frame(spark, x[600:800], y[600:800], 2), features="pixels", label="label")
    try:
        assert isinstance(data, dist.SparkResidentData) and not hasattr(data, "blocks")
        assert len(data) == 600 and data.num_partitions == 3 and data.feature_shape == (64,)
        assert data.x_dtype == np.float32 and data.y_dtype == np.int64
        in_memory = data.to_blocks()
        ax, ay = in_memory.arrays()
        assert sorted(map(tuple, ax.tolist())) == sorted(map(tuple, x[:600].tolist()))
        # the same samples, in the order Spark holds them, trained in this process
        local_data = dist.from_numpy(ax, ay, partitions=data.counts)
        local_eval = dist.from_numpy(*held.to_blocks().arrays())
        for trainer in (dist.ParameterAveraging, dist.SynchronousSGD):
            spark_weights, spark_history = _train(dist.SparkEngine(spark), data, held, trainer=trainer)
            local_weights, local_history = _train(dist.LocalEngine(), local_data.repartition(2), local_eval,
                                                  trainer=trainer)
            np.testing.assert_array_equal(spark_weights, local_weights)
            assert spark_history["loss"] == local_history["loss"]
            assert spark_history.last["accuracy"] == local_history.last["accuracy"]
    finally:
        data.release()
        held.release()


def test_repartitioning_happens_on_the_cluster_in_order(spark):
    rdd = spark.sparkContext.parallelize([([float(i), -float(i)], i % 3) for i in range(23)], 4)
    data = dist.from_rdd(rdd)
    try:
        two = data.repartition(5)
        assert two.num_partitions == 5 and two.counts == [5, 5, 5, 4, 4]
        x, y = data.to_blocks().arrays()
        expected = dist.from_numpy(x, y, partitions=5)
        for (ex, ey), (gx, gy) in zip(expected.blocks, two.to_blocks().blocks):
            np.testing.assert_array_equal(ex, gx)
            np.testing.assert_array_equal(ey, gy)
        assert data.repartition(5) is two  # cut once, kept for the next fit
    finally:
        data.release()


def test_partitions_argument_cuts_on_the_cluster(spark):
    x, y = digits()
    data = dist.from_dataframe(_frame(spark, x[:100], y[:100], 3), features="pixels", label="label", partitions=2)
    try:
        assert data.counts == [50, 50]
    finally:
        data.release()


def test_a_block_lost_with_its_executor_is_rebuilt_with_the_same_bits(spark):
    x, y = digits()
    data = dist.from_dataframe(_frame(spark, x[:400], y[:400], 2), features="pixels", label="label")
    try:
        undisturbed, _ = _train(dist.SparkEngine(spark), data, rounds=4)
        folder = block_files._block_dir(data.key)  # local mode: the executor's files are on this machine
        assert len(glob.glob(os.path.join(folder, "*.json"))) == 2

        def lose_files(record):  # as if the executors were replaced after round 2: their disks are gone
            if record["round"] == 2:
                shutil.rmtree(folder)

        rebuilt, history = _train(dist.SparkEngine(spark), data, rounds=4, callback=lose_files)
        np.testing.assert_array_equal(rebuilt, undisturbed)
        assert len(glob.glob(os.path.join(folder, "*.json"))) == 2  # the rebuilt blocks are back on disk
    finally:
        data.release()
    assert not os.path.exists(folder)


def test_parquet_errors_name_partition_column_and_file(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    good = pa.table({"features": [[1.0, 2.0], [3.0, 4.0]], "label": [0, 1]})
    bad = pa.table({"features": [[1.0, 2.0], [float("nan"), 4.0]], "label": [1, 0]})
    pq.write_table(good, tmp_path / "part-0.parquet")
    pq.write_table(bad, tmp_path / "part-1.parquet")
    root = os.path.dirname(block_files._block_dir("x"))
    before = set(os.listdir(root)) if os.path.isdir(root) else set()
    with pytest.raises(ValueError) as info:
        dist.from_parquet(str(tmp_path), features="features", label="label", spark=spark)
    assert (set(os.listdir(root)) if os.path.isdir(root) else set()) == before  # the good partition's file too
    message = str(info.value)
    assert "partition" in message and "features" in message and "non-finite" in message
    assert "part-1.parquet" in message and "part-0.parquet" not in message

    pq.write_table(good, tmp_path / "part-1.parquet")
    data = dist.from_parquet(str(tmp_path), features="features", label="label", num_classes=2, spark=spark)
    try:
        assert len(data) == 4 and data.feature_shape == (2,) and data.label_ranges[0] == (0, 1)
    finally:
        data.release()


def test_labels_out_of_range_are_found_on_the_executors(spark):
    rdd = spark.sparkContext.parallelize([([1.0], 0), ([2.0], 1), ([3.0], 2), ([4.0], 7)], 2)
    with pytest.raises(ValueError, match=r"partition 1: label 7 is out of range for 3 classes"):
        dist.from_rdd(rdd, num_classes=3)
    data = dist.from_rdd(rdd, dtype="float32")
    try:
        model = st.nn.Linear(1, 2)
        trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                          workers=2, engine=dist.SparkEngine(spark), progress=False)
        with pytest.raises(ValueError, match=r"partition 1 has label 7, out of range for the model's 2 classes"):
            trainer.fit(data, rounds=1)
    finally:
        data.release()


def test_a_partition_larger_than_its_worker_memory_streams_from_the_block_file():
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "streaming_runner.py")
    done = subprocess.run([sys.executable, runner], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@result ")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(lines[-1][len("@@result "):])
    assert result["block_bytes"] > 2 * result["cap_over_baseline"]
    assert result["copy_fits"] is False  # the cap binds: the block cannot be held in the worker's memory
    assert result["sum"] == result["expected_sum"]  # yet every sample was read, through the file


def test_a_shuffled_source_is_named_as_the_limit_of_same_bits_after_a_lost_executor(spark, caplog, tmp_path):
    rows = [([float(i)], i % 2) for i in range(8)]
    with caplog.at_level("WARNING", logger="sparktensor.dist"):
        dist.from_rdd(spark.sparkContext.parallelize(rows, 2), dtype="float32").release()
        assert "shuffle" not in caplog.text
        dist.from_rdd(spark.sparkContext.parallelize(rows, 2).repartition(3), dtype="float32").release()
        assert "RDD's partitions come out of a shuffle" in caplog.text
        caplog.clear()
        frame = spark.createDataFrame(rows, "x array<float>, label long")
        dist.from_dataframe(frame, "x", "label").release()
        assert "shuffle" not in caplog.text
        dist.from_dataframe(frame.repartition(3), "x", "label").release()
        assert "DataFrame's partitions come out of a shuffle" in caplog.text
