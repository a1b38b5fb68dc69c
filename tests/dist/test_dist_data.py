"""Data input: NumPy arrays, RDDs and DataFrames into checked, contiguous NumPy blocks."""
import numpy as np
import pytest

import sparktensor.dist as dist


# ----- from_numpy -----
def test_from_numpy_splits_contiguous_blocks_in_order(rng):
    x, y = rng.standard_normal((10, 3)).astype(np.float32), np.arange(10)
    blocks = dist.from_numpy(x, y, partitions=3)
    assert blocks.counts == [4, 3, 3]
    assert all(bx.flags.c_contiguous and by.flags.c_contiguous for bx, by in blocks.blocks)
    joined_x, joined_y = blocks.arrays()
    np.testing.assert_array_equal(joined_x, x)
    np.testing.assert_array_equal(joined_y, y)


def test_from_numpy_takes_uneven_and_empty_partitions(rng):
    x, y = rng.standard_normal((10, 2)), np.zeros(10, np.int64)
    blocks = dist.from_numpy(x, y, partitions=[7, 0, 3])
    assert blocks.counts == [7, 0, 3]
    assert blocks.blocks[1][0].shape == (0, 2)
    again = blocks.repartition(4)
    assert again.counts == [3, 3, 2, 2]
    np.testing.assert_array_equal(again.arrays()[0], x)


def test_from_numpy_takes_tensors():
    import sparktensor as st
    blocks = dist.from_numpy(st.ones(6, 2), st.zeros(6, dtype=st.int64), partitions=2)
    assert blocks.counts == [3, 3] and blocks.blocks[0][0].dtype == np.float32


@pytest.mark.parametrize("x, y, partitions, error, words", [
    (np.ones((4, 2)), np.ones(5), 2, ValueError, ["same first dimension", "(4, 2)", "(5,)"]),
    (np.array([[1.0], [2.0], [np.nan], [4.0]]), np.zeros(4, np.int64), 2, ValueError,
     ["partition 1", "non-finite", "sample 0"]),
    (np.array([[1.0], [np.inf]]), np.zeros(2, np.int64), 1, ValueError, ["partition 0", "inf"]),
    (np.array([["a"], ["b"]]), np.zeros(2, np.int64), 1, TypeError, ["dtype", "numeric"]),
    (np.ones((4, 2)), np.ones(4), [3, 2], ValueError, ["add up", "4 samples"]),
])
def test_from_numpy_rejects_bad_input_naming_the_problem(x, y, partitions, error, words):
    with pytest.raises(error) as info:
        dist.from_numpy(x, y, partitions=partitions)
    for word in words:
        assert word in str(info.value)


def test_from_numpy_checks_label_range():
    with pytest.raises(ValueError, match=r"partition 1: label 7 .* out of range for 3 classes"):
        dist.from_numpy(np.ones((4, 2)), np.array([0, 1, 2, 7]), partitions=2, num_classes=3)


def test_all_empty_data_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        dist.from_numpy(np.ones((0, 2)), np.ones(0), partitions=2)


# ----- from_dataframe -----
def test_from_dataframe_numeric_columns_in_order(spark):
    rows = [(float(i), i * 2, i % 3) for i in range(11)]
    df = spark.createDataFrame(rows, "a double, b int, label long")
    expected = np.array([[r.a, r.b] for r in df.collect()], np.float32)
    blocks = dist.from_dataframe(df, features=["a", "b"], label="label")
    assert blocks.source == "DataFrame"
    assert blocks.num_partitions == df.rdd.getNumPartitions()
    x, y = blocks.to_blocks().arrays()
    np.testing.assert_array_equal(x, expected)
    assert y.dtype == np.int64 and list(y) == [r.label for r in df.collect()]


def test_from_dataframe_array_vector_and_binary_columns(spark):
    from pyspark.ml.linalg import Vectors, VectorUDT
    from pyspark.sql.types import (ArrayType, BinaryType, DoubleType, FloatType, IntegerType, StructField,
                                   StructType)
    schema = StructType([StructField("image", ArrayType(ArrayType(FloatType()))),
                         StructField("vec", VectorUDT()), StructField("raw", BinaryType()),
                         StructField("target", DoubleType()), StructField("label", IntegerType())])
    rows = []
    for i in range(6):
        image = [[float(i), 1.0, 2.0], [3.0, 4.0, float(-i)]]
        vec = Vectors.dense([i, 0.5]) if i % 2 else Vectors.sparse(2, [1], [float(i)])
        raw = np.full(4, i, np.uint8).tobytes()
        rows.append((image, vec, raw, i / 2, i % 2))
    df = spark.createDataFrame(rows, schema)

    images = dist.from_dataframe(df, features="image", label="label")
    assert images.feature_shape == (2, 3)
    np.testing.assert_array_equal(images.to_blocks().arrays()[0], np.array([r[0] for r in rows], np.float32))

    vectors = dist.from_dataframe(df, features="vec", label="target", dtype="float64")
    x, y = vectors.to_blocks().arrays()
    np.testing.assert_array_equal(x, np.array([r[1].toArray() for r in rows]))
    assert x.dtype == np.float64 and y.dtype == np.float64 and list(y) == [r[3] for r in rows]

    decoded = dist.from_dataframe(df, features="raw", label="label",
                                  decode=lambda b: np.frombuffer(b, np.uint8).reshape(2, 2), feature_shape=(1, 2, 2))
    assert decoded.feature_shape == (1, 2, 2)
    np.testing.assert_array_equal(decoded.to_blocks().arrays()[0][:, 0, 0, 0], np.arange(6))

    mixed = dist.from_dataframe(df, features=["image", "vec", "target"], label="label")
    assert mixed.feature_shape == (6 + 2 + 1,)


def test_from_dataframe_rejects_a_string_column_by_name(spark):
    df = spark.createDataFrame([(1.0, "cat", 0)], "a double, name string, label int")
    with pytest.raises(TypeError, match=r"column 'name' has type string"):
        dist.from_dataframe(df, features=["a", "name"], label="label")
    with pytest.raises(ValueError, match=r"no column 'nope'"):
        dist.from_dataframe(df, features="nope", label="label")
    with pytest.raises(TypeError, match=r"column 'a' .*decode"):
        dist.from_dataframe(spark.createDataFrame([(b"x", 0)], "a binary, label int"), features="a", label="label")


@pytest.mark.parametrize("rows, schema, words", [
    ([(1.0, 0), (float("nan"), 1)], "a double, label int", ["partition", "column(s) a", "non-finite"]),
    ([(1.0, 0), (None, 1)], "a double, label int", ["partition", "column 'a'", "null"]),
    ([([1.0, 2.0], 0), ([1.0], 1)], "a array<double>, label int", ["column 'a'", "different lengths"]),
])
def test_from_dataframe_bad_values_name_partition_and_column(spark, rows, schema, words):
    df = spark.createDataFrame(rows, schema).coalesce(1)
    with pytest.raises(ValueError) as info:
        dist.from_dataframe(df, features="a", label="label")
    for word in words:
        assert word in str(info.value)


def test_from_dataframe_names_the_partition_with_inf(spark):
    rows = [(0.0, 0), (1.0, 0), (2.0, 0), (3.0, 1), (float("inf"), 1), (5.0, 1)]
    df = spark.sparkContext.parallelize(rows, 2).toDF("a double, label int")  # rows 3..5 in partition 1
    with pytest.raises(ValueError) as info:
        dist.from_dataframe(df, features="a", label="label")
    message = str(info.value)
    assert "DataFrame partition 1" in message and "sample 1" in message and "partition 0" not in message


def test_from_dataframe_with_empty_partitions_keeps_them(spark):
    df = spark.createDataFrame([(float(i), i % 2) for i in range(5)], "a double, label int").repartition(4)
    blocks = dist.from_dataframe(df, features="a", label="label")
    assert len(blocks) == 5 and blocks.num_partitions <= 4
    assert sorted(blocks.to_blocks().arrays()[0].ravel().tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]


# ----- from_rdd -----
def test_from_rdd_pairs_rows_and_vectors(spark):
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import Row
    sc = spark.sparkContext
    pairs = sc.parallelize([([float(i), 1.0], i % 3) for i in range(7)], 3)
    blocks = dist.from_rdd(pairs)
    assert blocks.num_partitions == 3 and len(blocks) == 7
    np.testing.assert_array_equal(blocks.to_blocks().arrays()[0][:, 0], np.arange(7))
    assert blocks.to_blocks().arrays()[1].dtype.kind == "i"

    rows = sc.parallelize([Row(features=Vectors.dense([i, 2.0]), label=i) for i in range(4)], 2)
    x, y = dist.from_rdd(rows).to_blocks().arrays()
    assert x.shape == (4, 2) and list(y) == [0, 1, 2, 3]

    named = sc.parallelize([Row(pixels=[1.0, 2.0], digit=5)], 1)
    x, y = dist.from_rdd(named, features="pixels", label="digit").to_blocks().arrays()
    assert x.tolist() == [[1.0, 2.0]] and y.tolist() == [5]


def test_from_rdd_names_the_bad_partition(spark):
    rdd = spark.sparkContext.parallelize([([1.0, 2.0], 0), ([1.0, 2.0], 1), ([1.0], 0), ([1.0, 2.0], 0)], 2)
    with pytest.raises(ValueError, match=r"RDD partition 1: features of different shapes"):
        dist.from_rdd(rdd)
    nan = spark.sparkContext.parallelize([([1.0], 0), ([float("nan")], 1)], 2)
    with pytest.raises(ValueError, match=r"RDD partition 1.*non-finite"):
        dist.from_rdd(nan)
