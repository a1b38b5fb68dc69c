"""Engines: placed partitions, broadcasts and the fixed aggregation tree, on Spark and in process."""
import numpy as np
import pytest

import sparktensor.dist as dist
from sparktensor.dist.engines.base import tree_fold, tree_shape


def _bracket(a, b):
    return f"({a}+{b})"


def _describe_block(index, block, offset):
    x, y = block
    return f"{index}:{len(x)}:{int(x.sum()) + offset.value}"


def test_tree_shape_follows_tree_aggregate():
    assert tree_shape(1) == [] and tree_shape(2) == [] and tree_shape(4) == []
    assert tree_shape(9) == [3]
    assert tree_shape(100) == [10]
    assert tree_shape(64, depth=3) == [4, 4]


def test_tree_fold_groups_consecutive_indices_whatever_the_arrival_order():
    items = [(i, str(i)) for i in range(9)]
    expected = "((((0+1)+2)+((3+4)+5))+((6+7)+8))"
    assert tree_fold(items, _bracket) == expected
    assert tree_fold(items[::-1], _bracket) == expected


@pytest.mark.parametrize("partitions", [2, 9])
def test_map_reduce_runs_every_partition_and_folds_in_a_fixed_tree(engine, partitions):
    x = np.arange(3 * partitions, dtype=np.float32).reshape(-1, 1)
    blocks = dist.from_numpy(x, np.zeros(len(x), np.int64), partitions=partitions)
    placed = engine.place(blocks)
    offset = engine.broadcast(100)
    try:
        result = engine.map_reduce(placed, _describe_block, (offset,), _bracket)
    finally:
        engine.unbroadcast(offset)
        engine.release(placed)
    pieces = [f"{i}:3:{int(x[3 * i:3 * i + 3].sum()) + 100}" for i in range(partitions)]
    assert result == tree_fold(list(enumerate(pieces)), _bracket)


def test_spark_engine_uses_the_active_session(spark):
    engine = dist.SparkEngine()
    assert engine.spark is spark and engine.workers == 2
    assert "local[2,4]" in repr(engine)


def test_spark_engine_keeps_the_master_and_settings_spark_submit_gave(tmp_path):
    import os
    import subprocess
    import sys
    script = tmp_path / "job.py"
    script.write_text("import sparktensor.dist as dist\n"
                      "engine = dist.SparkEngine()\n"
                      "print('@@', engine.sc.master, engine.sc.getConf().get('spark.sql.shuffle.partitions'))\n")
    env = dict(os.environ, PYSPARK_SUBMIT_ARGS="--master local[1] --conf spark.sql.shuffle.partitions=7 "
                                               "pyspark-shell")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert "@@ local[1] 7" in done.stdout, done.stderr[-2000:]
