"""The data API a PyTorch user expects, against torch.utils.data: data sets, samplers, collate, DataLoader arguments,
random_split and worker processes. Random orders come from other streams, so those tests check the laws."""
import collections
import os
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import sparktensor as st
from sparktensor import data as sd

Point = collections.namedtuple("Point", "x y")


def _plain(batch):
    """A batch of either library as nested Python lists, dicts and NumPy arrays, to compare values and dtypes."""
    if isinstance(batch, (st.Tensor, torch.Tensor)):
        return np.asarray(batch.numpy())
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return [_plain(v) for v in batch]
    return batch


def _assert_same(ours, theirs):
    ours, theirs = _plain(ours), _plain(theirs)
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype, (ours, theirs)
        np.testing.assert_array_equal(ours, theirs)
    elif isinstance(theirs, dict):
        assert ours.keys() == theirs.keys()
        for k in theirs:
            _assert_same(ours[k], theirs[k])
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b)
    else:
        assert ours == theirs


def _samples(rng):
    return [(rng.standard_normal(3).astype(np.float32), int(i), float(i) / 2, f"s{i}", bool(i % 2),
             {"a": np.int32(i), "b": [i, 2.5 * i]}, Point(i, np.float64(i))) for i in range(4)]


# ----- collate -----
def test_default_collate_follows_torch_for_every_kind_of_field():
    samples = _samples(np.random.default_rng(0))
    ours, theirs = sd.default_collate(samples), tud.default_collate(samples)
    _assert_same(list(ours), theirs)
    assert isinstance(ours, tuple) and isinstance(ours[6], Point)
    assert ours[2].dtype == st.float64 and ours[1].dtype == st.int64 and ours[4].dtype == st.bool
    _assert_same(sd.default_collate([(st.tensor(s[0]), s[1]) for s in samples]),
                 tud.default_collate([(torch.from_numpy(s[0]), s[1]) for s in samples]))


def test_default_convert_follows_torch():
    sample = {"x": np.arange(3), "y": [np.float32(2.0), "name", 3]}
    _assert_same(sd.default_convert(sample), tud.default_convert(sample))
    assert isinstance(sd.default_convert(np.zeros(2)), st.Tensor)


def test_default_collate_names_the_problem():
    with pytest.raises(RuntimeError, match=r"different shapes \[\(2,\), \(3,\)\].*pad_sequence"):
        sd.default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="same number of fields"):
        sd.default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="found NoneType"):
        sd.default_collate([None, None])


# ----- data sets -----
class Squares(sd.Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return np.full(2, i, np.float32), i * i


class TorchSquares(tud.Dataset):
    __len__, __getitem__ = Squares.__len__, Squares.__getitem__


def test_map_dataset_batches_equal_torch_with_collate_fn_sampler_and_drop_last():
    order = [5, 0, 3, 6, 1, 2, 4]

    def collate(samples):
        return [s[1] for s in samples]
    for kwargs in [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=2, sampler=order),
                   dict(batch_size=2, sampler=order, collate_fn=collate), dict(batch_sampler=[[1, 2], [6], [0, 5]]),
                   dict(batch_size=None), dict(batch_size=None, sampler=order)]:
        ours, theirs = sd.DataLoader(Squares(), **kwargs), tud.DataLoader(TorchSquares(), **kwargs)
        assert len(ours) == len(theirs), kwargs
        _assert_same(list(ours), list(theirs))


def test_subset_concat_and_their_batches_equal_torch():
    x = np.arange(20).reshape(10, 2)
    ours = sd.TensorDataset(st.tensor(x))
    theirs = tud.TensorDataset(torch.tensor(x))
    subset, subset_t = sd.Subset(ours, [9, 2, 4, 2]), tud.Subset(theirs, [9, 2, 4, 2])
    concat, concat_t = sd.ConcatDataset([subset, Squares()]), tud.ConcatDataset([subset_t, TorchSquares()])
    assert len(subset) == 4 and len(concat) == len(concat_t) == 11
    for i in [0, 3, 4, 10, -1, -11]:
        _assert_same(concat[i], concat_t[i])
    with pytest.raises(IndexError):
        concat[11]
    # a Subset of a TensorDataset batches by one gather per tensor; the result is the per-sample one
    _assert_same(list(sd.DataLoader(subset, batch_size=3)), list(tud.DataLoader(subset_t, batch_size=3)))
    _assert_same(list(sd.DataLoader(subset + Squares(), batch_size=5, collate_fn=lambda s: [v[0] for v in s])),
                 list(tud.DataLoader(subset_t + TorchSquares(), batch_size=5, collate_fn=lambda s: [v[0] for v in s])))


class Stream(sd.IterableDataset):
    """Samples start..stop-1; under workers each worker yields its share, as PyTorch's documentation shows."""

    worker_info = staticmethod(sd.get_worker_info)

    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        info = self.worker_info()
        step, first = (1, self.start) if info is None else (info.num_workers, self.start + info.id)
        return iter(range(first, self.stop, step))

    def __len__(self):
        return self.stop - self.start


class TorchStream(tud.IterableDataset):
    worker_info = staticmethod(tud.get_worker_info)
    __init__, __iter__, __len__ = Stream.__init__, Stream.__iter__, Stream.__len__


@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                    dict(batch_size=4, num_workers=2),
                                    dict(batch_size=3, num_workers=2, prefetch_factor=1)])
def test_iterable_dataset_batches_equal_torch(kwargs):
    ours, theirs = sd.DataLoader(Stream(0, 11), **kwargs), tud.DataLoader(TorchStream(0, 11), **kwargs)
    _assert_same(list(ours), list(theirs))
    if not kwargs.get("num_workers"):
        assert len(ours) == len(theirs)
    chained = sd.DataLoader(Stream(0, 3) + Stream(10, 12), batch_size=2)
    _assert_same(list(chained), list(tud.DataLoader(TorchStream(0, 3) + TorchStream(10, 12), batch_size=2)))


def test_loader_argument_conflicts_raise_where_torch_raises():
    conflicts = [dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
                 dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
                 dict(num_workers=-1), dict(prefetch_factor=2), dict(persistent_workers=True)]
    for kwargs in conflicts:
        with pytest.raises(ValueError):
            tud.DataLoader(TorchSquares(), **kwargs)
        with pytest.raises(ValueError, match="DataLoader: "):
            sd.DataLoader(Squares(), **kwargs)
    for kwargs in [dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])]:
        with pytest.raises(ValueError):
            tud.DataLoader(TorchStream(0, 3), **kwargs)
        with pytest.raises(ValueError, match="IterableDataset"):
            sd.DataLoader(Stream(0, 3), **kwargs)


# ----- samplers -----
def test_sequential_and_batch_samplers_equal_torch():
    for drop_last in (False, True):
        ours = sd.BatchSampler(sd.SequentialSampler(range(10)), 4, drop_last)
        theirs = tud.BatchSampler(tud.SequentialSampler(range(10)), 4, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    with pytest.raises(ValueError, match="batch_size"):
        sd.BatchSampler(range(3), 0, False)


def test_random_sampler_permutes_reshuffles_and_repeats_from_a_generator():
    sampler = sd.RandomSampler(range(30), generator=st.Generator(5))
    epochs = [list(sampler) for _ in range(2)]
    assert all(sorted(e) == list(range(30)) for e in epochs) and epochs[0] != epochs[1]
    assert [list(sd.RandomSampler(range(30), generator=st.Generator(5))) for _ in range(1)][0] == epochs[0]
    # more samples than the data set without replacement: whole permutations chained, as PyTorch does
    for sampler in (sd.RandomSampler(range(5), num_samples=13, generator=st.Generator(1)),
                    tud.RandomSampler(range(5), num_samples=13)):
        counts = np.bincount(list(sampler), minlength=5)
        assert len(sampler) == 13 and sorted(counts.tolist()) == [2, 2, 3, 3, 3]
    drawn = list(sd.RandomSampler(range(3), replacement=True, num_samples=200, generator=st.Generator(2)))
    assert len(drawn) == 200 and set(drawn) == {0, 1, 2}


def test_subset_random_and_weighted_samplers():
    indices = [7, 3, 11, 5]
    sampler = sd.SubsetRandomSampler(indices, generator=st.Generator(3))
    assert sorted(sampler) == sorted(indices) and len(sampler) == 4
    weighted = list(sd.WeightedRandomSampler([0.0, 1.0, 3.0], 400, generator=st.Generator(4)))
    assert 0 not in weighted and 2.0 < weighted.count(2) / weighted.count(1) < 4.5
    distinct = list(sd.WeightedRandomSampler([1.0, 1.0, 0.0, 2.0], 3, replacement=False, generator=st.Generator(4)))
    assert sorted(distinct) == [0, 1, 3]
    with pytest.raises(ValueError, match="non-negative"):
        sd.WeightedRandomSampler([1.0, -1.0], 2)


def test_shuffle_uses_a_random_sampler_of_the_loader_generator():
    first = [b[1].tolist() for b in sd.DataLoader(Squares(), batch_size=7, shuffle=True, seed=9)]
    again = [b[1].tolist() for b in sd.DataLoader(Squares(), batch_size=7, shuffle=True,
                                                  generator=st.Generator(9))]
    assert first == again and sorted(first[0]) == [i * i for i in range(7)]
    assert isinstance(sd.DataLoader(Squares(), shuffle=True).sampler, sd.RandomSampler)


# ----- random_split -----
@pytest.mark.parametrize("lengths", [[3, 7], [0.33, 0.33, 0.34], [0.5, 0.5], [0.1, 0.2, 0.7]])
def test_random_split_sizes_equal_torch_and_parts_cover_the_data_once(lengths):
    for n in (7, 10, 11):
        if all(isinstance(v, int) for v in lengths) and sum(lengths) != n:
            continue
        parts = sd.random_split(range(n), lengths, generator=st.Generator(0))
        assert [len(p) for p in parts] == [len(p) for p in tud.random_split(range(n), lengths)]
        assert sorted(i for p in parts for i in p) == list(range(n))
        assert all(isinstance(p, sd.Subset) for p in parts)
    again = sd.random_split(range(10), [0.5, 0.5], generator=st.Generator(0))
    assert list(again[0]) == list(sd.random_split(range(10), [0.5, 0.5], generator=st.Generator(0))[0])


def test_random_split_refuses_lengths_that_do_not_fit():
    with pytest.raises(ValueError, match="add up to 9.*holds 10"):
        sd.random_split(range(10), [4, 5])
    with pytest.raises(ValueError):
        tud.random_split(range(10), [4, 5])


# ----- worker processes -----
class WhoMadeIt(sd.Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = sd.get_worker_info()
        return i, os.getpid(), info.id, info.seed, float(np.random.random()), st.rand(1).item()


def test_workers_are_processes_with_their_own_seeds_and_batches_come_in_order():
    loader = sd.DataLoader(WhoMadeIt(), batch_size=2, num_workers=3, seed=4)
    batches = list(loader)
    assert np.concatenate([b[0].numpy() for b in batches]).tolist() == list(range(12))
    pids = {int(p) for b in batches for p in b[1].numpy()}
    ids = [b[2].numpy().tolist() for b in batches]
    assert os.getpid() not in pids and len(pids) == 3
    assert ids == [[k % 3] * 2 for k in range(6)]  # batch k is made by worker k % num_workers
    seeds = {int(i): int(s) for b in batches for i, s in zip(b[2].numpy(), b[3].numpy())}
    assert seeds[1] == seeds[0] + 1 and seeds[2] == seeds[0] + 2
    numpy_draws = [b[4].numpy()[0] for b in batches[:3]]
    assert len(set(numpy_draws)) == 3  # every worker's NumPy generator is seeded on its own
    assert sd.get_worker_info() is None
    again = list(sd.DataLoader(WhoMadeIt(), batch_size=2, num_workers=3, seed=4))
    np.testing.assert_array_equal(again[0][5].numpy(), batches[0][5].numpy())


def _record_worker(worker_id):
    np.random.seed(100 + worker_id)


class Failing(sd.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 3:
            raise KeyError(f"sample {i} is missing")
        return float(np.random.random())


def test_worker_init_fn_runs_and_a_worker_error_is_raised_in_the_main_process():
    loader = sd.DataLoader(Failing(), batch_size=3, num_workers=2, worker_init_fn=_record_worker)
    batches = iter(loader)
    expected = np.random.RandomState(100).random_sample(3)  # worker 0 reseeded by worker_init_fn
    np.testing.assert_allclose(next(batches).numpy(), expected)
    with pytest.raises(KeyError, match="worker process 1.*sample 3 is missing"):
        next(batches)


class SlowFirstFailingLast(sd.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        if i == 0:
            time.sleep(1.0)  # worker 0 answers well after worker 1 has failed
            return 0.0
        raise KeyError(f"sample {i} is missing")


def test_a_worker_error_waits_for_the_batches_before_it():
    batches = iter(sd.DataLoader(SlowFirstFailingLast(), batch_size=1, num_workers=2))
    assert next(batches).numpy().tolist() == [0.0]
    with pytest.raises(KeyError, match="worker process 1.*sample 1 is missing"):
        next(batches)


def test_persistent_workers_serve_every_epoch_even_after_one_is_abandoned():
    loader = sd.DataLoader(WhoMadeIt(), batch_size=2, num_workers=2, persistent_workers=True, seed=1)
    first = iter(loader)
    next(first)  # abandoned after one batch: its other results must not leak into the next epoch
    del first
    epochs = [list(loader) for _ in range(2)]
    for batches in epochs:
        assert np.concatenate([b[0].numpy() for b in batches]).tolist() == list(range(12))
    assert {int(p) for b in epochs[0] for p in b[1].numpy()} == {int(p) for b in epochs[1] for p in b[1].numpy()}
    stream = sd.DataLoader(Stream(0, 9), batch_size=2, num_workers=2, persistent_workers=True)
    expected = list(tud.DataLoader(TorchStream(0, 9), batch_size=2, num_workers=2))
    for _ in range(2):
        _assert_same(list(stream), expected)


def test_a_torch_generator_is_refused_by_name():
    for make in (lambda g: sd.DataLoader(Squares(), shuffle=True, generator=g),
                 lambda g: list(sd.RandomSampler(range(3), generator=g)),
                 lambda g: sd.random_split(range(4), [2, 2], generator=g)):
        with pytest.raises(TypeError, match=r"must be an st.Generator.*torch.*Generator"):
            make(torch.Generator())
