"""from_dask and read_table on tables: list columns (object and Arrow dtypes, fixed-size and nested), ragged
lists named by partition and column, Parquet and CSV files, and repartitioning on the cluster.

One in-process Dask cluster of 2 workers serves the module; it is not the default client, so every call names
it, and the module checks the error of a call that names none.
"""
import numpy as np
import pytest

import sparktensor.dist as dist
from sparktensor.dist.data.dask import read_table

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client
    client = Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None,
                    set_as_default=False)
    yield client
    client.close()


@pytest.fixture
def table(tmp_path, rng):
    """A Parquet file of 12 rows in 3 row groups: a list column, a 2 x 2 nested one, a scalar, labels."""
    vectors = rng.standard_normal((12, 3))
    grids = rng.integers(0, 9, (12, 2, 2))
    arrow = pa.table({"vector": pa.array(list(vectors), pa.list_(pa.float64())),
                      "grid": pa.array([g.tolist() for g in grids], pa.list_(pa.list_(pa.int64()))),
                      "fixed": pa.array(list(vectors.astype(np.float32)), pa.list_(pa.float32(), 3)),
                      "scale": rng.standard_normal(12), "label": rng.integers(0, 4, 12)})
    path = tmp_path / "table.parquet"
    pq.write_table(arrow, path, row_group_size=4)
    return path, vectors, grids, arrow.column("scale").to_numpy(), arrow.column("label").to_numpy()


def _read(path, **options):
    return dd.read_parquet(path, split_row_groups=1, **options)  # one partition per row group


@pytest.mark.parametrize("backend", ["numpy", "pyarrow"])
def test_parquet_list_columns_become_feature_dimensions(client, table, backend):
    path, vectors, grids, scale, labels = table
    frame = _read(path, dtype_backend=backend) if backend == "pyarrow" else _read(path)
    kinds = {name: str(frame.dtypes[name]) for name in ("vector", "grid", "fixed")}
    assert all(("list" in kind) == (backend == "pyarrow") for kind in kinds.values()), kinds
    for column, expected in (("vector", vectors), ("grid", grids), ("fixed", vectors)):
        data = dist.from_dask(frame, features=column, label="label", num_classes=4, client=client)
        assert data.counts == [4, 4, 4] and data.feature_shape == expected.shape[1:]
        x, y = data.to_blocks().arrays()
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x, expected.astype(np.float32))
        np.testing.assert_array_equal(y, labels)


def test_list_and_scalar_columns_side_by_side_and_list_targets(client, table):
    path, vectors, grids, scale, labels = table
    data = dist.from_dask(_read(path), features=["vector", "scale", "grid"], label="vector", dtype="float64",
                          client=client)
    x, y = data.to_blocks().arrays()
    expected = np.concatenate([vectors, scale[:, None], grids.reshape(12, 4)], axis=1)
    np.testing.assert_array_equal(x, expected)
    assert y.dtype == np.float64 and y.shape == (12, 3)
    np.testing.assert_array_equal(y, vectors)
    shaped = dist.from_dask(_read(path), features="vector", label="label", feature_shape=(3, 1), client=client)
    assert shaped.feature_shape == (3, 1) and shaped.head[0].shape == (2, 3, 1)


def test_an_empty_partition_of_list_columns_gets_the_others_shape(client, table):
    path, vectors, *_ = table
    with dask.config.set({"dataframe.convert-string": False}):  # keep the lists as they are read
        frame = dd.from_map(_rows_of, [(0, 4), (4, 8), (8, 8)], path=str(path))  # the third one has no rows
    data = dist.from_dask(frame, features="vector", label="label", client=client)
    assert data.counts == [4, 4, 0]
    x, y = data.to_blocks().blocks[2]
    assert x.shape == (0, 3) and x.dtype == np.float32 and y.shape == (0,) and y.dtype == np.int64


def _rows_of(bounds, path):
    return pq.read_table(path).slice(bounds[0], bounds[1] - bounds[0]).to_pandas()


def test_ragged_lists_and_strings_name_the_partition_and_the_column(client, tmp_path):
    arrow = pa.table({"vector": pa.array([[1.0, 2.0]] * 5 + [[1.0]] + [[3.0, 4.0]] * 2, pa.list_(pa.float64())),
                      "words": ["a"] * 8, "label": [0] * 8})
    path = tmp_path / "ragged.parquet"
    pq.write_table(arrow, path, row_group_size=4)
    with pytest.raises(ValueError, match=r"partition 1, column 'vector': arrays of different lengths \(1 and 2\)"):
        dist.from_dask(_read(path), features="vector", label="label", client=client)
    with pytest.raises(ValueError, match=r"Parquet .*ragged.parquet partition 0, column 'vector': arrays of"):
        read_table(path, "vector", "label", client=client)
    with pytest.raises(TypeError, match=r"column 'words' has dtype .*numeric or lists of numbers"):
        read_table(path, "words", "label", client=client)
    objects = pd.DataFrame({"mixed": pd.Series([[1.0], "text"], dtype=object), "label": [0, 1]})
    with dask.config.set({"dataframe.convert-string": False}):  # keep the object column as it is
        frame = dd.from_pandas(objects, npartitions=1)
    with pytest.raises((TypeError, ValueError), match=r"Dask DataFrame partition 0, column 'mixed'"):
        dist.from_dask(frame, features="mixed", label="label", client=client)


def test_read_table_reads_parquet_directories_and_csv(client, tmp_path, rng):
    frame = pd.DataFrame({"a": rng.standard_normal(10), "b": rng.standard_normal(10), "label": np.arange(10) % 2})
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:6].to_parquet(folder / "part-0.parquet")
    frame.iloc[6:].to_parquet(folder / "part-1.parquet")
    frame.to_csv(tmp_path / "table.csv", index=False)
    for path in (folder, tmp_path / "table.csv"):
        data = read_table(path, ["a", "b"], "label", num_classes=2, client=client)
        x, y = data.to_blocks().arrays()
        np.testing.assert_allclose(x, frame[["a", "b"]].to_numpy(np.float32), rtol=1e-6)
        np.testing.assert_array_equal(y, frame["label"].to_numpy())
        assert str(path) in data.source
    assert read_table(folder, ["a", "b"], "label", client=client).counts == [6, 4]
    with pytest.raises(ValueError, match=r"cannot tell the format of '.*table.json'"):
        read_table(tmp_path / "table.json", "a", "label", client=client)


@pytest.mark.parametrize("partitions", [4, 7, [0, 13, 0, 12], 1])
def test_repartition_on_the_cluster_equals_from_numpy_s_split(client, rng, partitions):
    x, y = rng.standard_normal((25, 2, 3)).astype(np.float32), rng.integers(0, 5, 25)
    data = dist.from_dask(da.from_array(x, chunks=(6, 2, 3)), da.from_array(y, chunks=6), client=client)
    split = data.repartition(partitions)
    reference = dist.from_numpy(x, y, partitions=partitions)
    assert split.counts == reference.counts and split.num_partitions == reference.num_partitions
    assert split.label_ranges == reference.label_ranges
    for (sx, sy), (rx, ry) in zip(split.to_blocks().blocks, reference.blocks):
        assert sx.tobytes() == rx.tobytes() and sy.tobytes() == ry.tobytes() and sx.shape == rx.shape
    assert data.counts == [6, 6, 6, 6, 1], "the data repartitioned is left as it was"
    if partitions == 1:
        assert client.who_has(split.futures)[split.futures[0].key], "the joined block lives on a worker"


def test_the_client_holds_counts_and_two_samples_only(client, rng):
    x = rng.standard_normal((400, 8))
    data = dist.from_dask(da.from_array(x, chunks=100), rng.integers(0, 3, 400), num_classes=3, client=client)
    arrays = [v for v in vars(data).values() if isinstance(v, np.ndarray)]
    assert not arrays and data.head[0].shape == (2, 8) and len(data.futures) == 4
    assert all(f.status == "finished" for f in data.futures)
    data.release()
    assert data.futures == []


def test_without_a_client_from_dask_says_how_to_get_one(rng):
    from distributed import default_client
    try:
        default_client()
        pytest.skip("a default Dask client is open in this process")
    except ValueError:
        pass
    with pytest.raises(ValueError, match="no default client: start a distributed.Client first, or pass client="):
        dist.from_dask(da.ones((4, 2), chunks=2), np.zeros(4))
    with pytest.raises(ValueError, match=r"partition sizes \[1, 1\] must be >= 0 and add up to the 4 samples"):
        from sparktensor.dist.data.dask import _sizes
        _sizes(4, [1, 1])


def test_blocks_crowded_on_one_worker_are_spread_with_the_same_values(client, rng):
    from sparktensor.dist.data.dask import DaskResidentData
    first = sorted(client.nthreads())[0]
    pairs = [(rng.standard_normal((5, 2)), np.arange(5)) for _ in range(4)]
    futures = client.scatter(pairs, workers=[first])  # Dask kept every block where it was made
    data = DaskResidentData.checked(client, futures, None, "scattered pairs")
    data.balance()
    gathered = data.to_blocks()  # also waits for the moves
    holders = client.who_has(data.futures)
    assert sorted(len([f for f in data.futures if w in holders[f.key]]) for w in client.nthreads()) == [2, 2]
    for (x, y), (ex, ey) in zip(gathered.blocks, pairs):
        assert x.tobytes() == ex.tobytes() and y.tobytes() == ey.tobytes()
