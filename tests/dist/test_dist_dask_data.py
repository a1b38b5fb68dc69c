"""from_dask: Dask arrays and Dask DataFrames into checked, contiguous NumPy blocks, one per chunk, kept on the
workers of a Dask cluster (here an in-process one of 2 workers, shared by the module)."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
from sparktensor.dist.data.dask import DaskResidentData

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")


pytest.importorskip("distributed")


@pytest.fixture(scope="module", autouse=True)
def client():
    """The default client while the module runs: from_dask keeps its blocks on this cluster."""
    from distributed import Client
    client = Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
    yield client
    client.close()


@pytest.fixture
def frame(rng):
    """A pandas frame of 30 rows: two numeric features, a string column, integer and float labels."""
    return pd.DataFrame({"a": rng.standard_normal(30), "b": rng.integers(0, 5, 30), "name": ["x"] * 30,
                         "label": rng.integers(0, 3, 30), "target": rng.standard_normal(30)})


def test_arrays_give_one_block_per_chunk_along_the_samples(rng):
    x = rng.standard_normal((50, 3, 2)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    blocks = dist.from_dask(da.from_array(x, chunks=(20, 2, 1)), da.from_array(y, chunks=7), num_classes=4)
    assert isinstance(blocks, DaskResidentData) and blocks.kind == "dask"
    assert blocks.counts == [20, 20, 10] and blocks.source == "Dask array" and blocks.feature_shape == (3, 2)
    assert blocks.label_ranges == [(int(y[a:b].min()), int(y[a:b].max())) for a, b in ((0, 20), (20, 40), (40, 50))]
    np.testing.assert_array_equal(blocks.head[0], x[:2])
    gathered = blocks.to_blocks()
    assert all(bx.shape[1:] == (3, 2) and bx.flags.c_contiguous and bx.dtype == np.float32
               for bx, _ in gathered.blocks)
    joined_x, joined_y = gathered.arrays()
    np.testing.assert_array_equal(joined_x, x)
    np.testing.assert_array_equal(joined_y, y)


def test_arrays_of_tensor_chunks_and_plain_labels(rng):
    x = rng.standard_normal((12, 4))
    blocks = dist.from_dask(da.from_array(st.tensor(x), chunks=(5, 2)), np.arange(12), dtype="float32")
    assert blocks.counts == [5, 5, 2]
    assert all(type(bx) is np.ndarray and bx.dtype == np.float32 for bx, _ in blocks.to_blocks().blocks)
    np.testing.assert_array_equal(blocks.to_blocks().arrays()[0], x.astype(np.float32))
    np.testing.assert_array_equal(blocks.to_blocks().arrays()[1], np.arange(12))


def test_rechunked_into_partitions_equals_from_numpy(rng):
    x, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    blocks = dist.from_dask(da.from_array(x, chunks=20), da.from_array(y, chunks=20), partitions=3)
    reference = dist.from_numpy(x, y, partitions=3)
    assert blocks.counts == reference.counts == [17, 17, 16]
    for (bx, by), (rx, ry) in zip(blocks.to_blocks().blocks, reference.blocks):
        np.testing.assert_array_equal(bx, rx)
        np.testing.assert_array_equal(by, ry)


def test_arrays_of_unknown_chunk_sizes(frame):
    df = dd.from_pandas(frame, npartitions=3)
    x, y = df[["a", "b"]].to_dask_array(), df["label"].to_dask_array()  # chunk sizes are NaN until computed
    blocks = dist.from_dask(x, y)
    assert blocks.counts == [10, 10, 10]
    np.testing.assert_array_equal(blocks.to_blocks().arrays()[0], frame[["a", "b"]].to_numpy())


def test_dataframes_give_one_block_per_partition(frame):
    df = dd.from_pandas(frame, npartitions=3)
    blocks = dist.from_dask(df, features=["a", "b"], label="label", num_classes=3)
    assert blocks.counts == [10, 10, 10] and blocks.source == "Dask DataFrame"
    x, y = blocks.to_blocks().arrays()
    assert x.dtype == np.float32 and x.shape == (30, 2) and y.dtype == np.int64
    np.testing.assert_array_equal(x, frame[["a", "b"]].to_numpy(np.float32))
    np.testing.assert_array_equal(y, frame["label"].to_numpy())
    targets = dist.from_dask(df, features="a", label="target", dtype="float64", partitions=2)
    assert targets.counts == [15, 15] and targets.to_blocks().arrays()[0].shape == (30,)
    np.testing.assert_array_equal(targets.to_blocks().arrays()[1], frame["target"].to_numpy())


def test_dataframe_features_reshaped(rng):
    frame = pd.DataFrame({f"p{i}": rng.standard_normal(8) for i in range(4)} | {"label": np.arange(8) % 2})
    blocks = dist.from_dask(dd.from_pandas(frame, npartitions=2), features=["p0", "p1", "p2", "p3"], label="label",
                            feature_shape=(1, 2, 2))
    assert blocks.feature_shape == (1, 2, 2)
    x = blocks.to_blocks().arrays()[0]
    np.testing.assert_array_equal(x[3, 0], frame.iloc[3, :4].to_numpy(np.float32).reshape(2, 2))


@pytest.mark.parametrize("call, error, words", [
    (lambda df, x, y: dist.from_dask(df, features=["a", "name"], label="label"), TypeError,
     ["column 'name'", "string", "numeric"]),
    (lambda df, x, y: dist.from_dask(df, features="a", label="name"), TypeError, ["column 'name'", "label"]),
    (lambda df, x, y: dist.from_dask(df, features="missing", label="label"), ValueError,
     ["no column 'missing'", "'a', 'b'"]),
    (lambda df, x, y: dist.from_dask(df, features="a", label="label", num_classes=2), ValueError,
     ["Dask DataFrame partition", "column 'label'", "out of range for 2 classes"]),
    (lambda df, x, y: dist.from_dask(x, y[:40]), ValueError, ["same number of samples", "(50, 3)", "(40,)"]),
    (lambda df, x, y: dist.from_dask(x, y.astype(str)), TypeError, ["y has dtype", "numeric"]),
    (lambda df, x, y: dist.from_dask(x), TypeError, ["labels y are missing"]),
    (lambda df, x, y: dist.from_dask(x.compute(), y), TypeError, ["not a ndarray", "from_numpy"]),
    (lambda df, x, y: dist.from_dask(df, y, features="a", label="label"), TypeError, ["label="]),
    (lambda df, x, y: dist.from_dask(x, y, label="label"), TypeError, ["for DataFrames"]),
])
def test_bad_input_is_named(frame, rng, call, error, words):
    df = dd.from_pandas(frame, npartitions=3)
    x, y = da.from_array(rng.standard_normal((50, 3)), chunks=20), da.from_array(rng.integers(0, 3, 50), chunks=20)
    with pytest.raises(error) as info:
        call(df, x, y)
    for word in words:
        assert word in str(info.value)


def test_bad_values_name_the_partition_and_column(frame):
    frame.loc[25, "a"] = np.nan
    with pytest.raises(ValueError, match=r"Dask DataFrame partition 2, column 'a': 1 null value"):
        dist.from_dask(dd.from_pandas(frame, npartitions=3), features=["a", "b"], label="label")
    x = np.ones((10, 2))
    x[7, 1] = np.inf
    with pytest.raises(ValueError, match=r"partition 1: x holds a non-finite value \(inf\) in sample 2"):
        dist.from_dask(da.from_array(x, chunks=5), np.zeros(10, np.int64))
