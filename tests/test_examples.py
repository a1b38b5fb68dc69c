"""The examples train on small slices of the real data sets (full runs are in bench/)."""
import pathlib
import sys

import pytest

from sparktensor.data import DatasetMissingError

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))


def _needs(loader, *args):
    try:
        loader(*args)
    except DatasetMissingError as e:
        pytest.skip(str(e))


def test_lenet_learns_on_a_slice_of_fashion_mnist():
    from sparktensor.data import load_fashion_mnist
    _needs(load_fashion_mnist)
    import fashion_mnist_lenet as example
    logs = []
    model, history = example.train(epochs=1, limit=3000, log=logs.append)
    assert history[-1] > 0.6, logs
    assert sum(p.size for p in model.parameters()) == 61706  # LeNet-5's parameter count


def test_char_lstm_learns_on_a_slice_of_shakespeare():
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import shakespeare_char_lstm as example
    logs = []
    model, vocab, history = example.train(steps=60, seq_len=32, batch_size=16, hidden=64, layers=1, lr=1e-2,
                                          text_limit=300_000, log=logs.append, eval_every=60)
    assert history[-1][1] < 3.3, logs  # log(vocabulary size) is about 4.3 nats/char
    assert example.sample(model, vocab, length=20).startswith("ROMEO:")


def test_char_lstm_loss_curve_matches_pytorch():
    """Same model, initial weights, batches and optimizer: losses within 1% over the first 100 steps."""
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import char_lstm_vs_pytorch
    pairs = char_lstm_vs_pytorch.loss_pairs(steps=100, seq_len=35, batch_size=16, embed=32, hidden=64, chars=200_000)
    for step, (ours, theirs) in enumerate(pairs):
        assert ours == pytest.approx(theirs, rel=0.01), f"step {step}"


def test_lstm_classifier_on_japanese_vowels():
    from sparktensor.data import load_ucr
    _needs(load_ucr, "JapaneseVowels")
    import japanese_vowels_lstm as example
    logs = []
    _, accuracy = example.train(epochs=8, log=logs.append)
    assert accuracy >= 0.9, logs


@pytest.mark.parametrize("parallel", ["data", "model"])
def test_char_transformer_learns_data_parallel_and_split_over_two_ranks(parallel):
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import shakespeare_transformer as example
    import sparktensor.dist as dist
    logs = []
    model, history = example.train(parallel, dist.LocalEngine(workers=2), steps=40, tau=5, seq_len=32,
                                   batch_size=16, d_model=32, layers=1, lr=1e-2, warmup=5, eval_every=20,
                                   text_limit=300_000, log=logs.append)
    assert [step for step, _, _ in history] == [20, 40], logs
    assert history[-1][1] < min(history[0][1], 3.2), logs  # the unigram entropy of this text is 3.37 nats/char
    assert history[0][2] < history[1][2], logs  # wall time since the start, growing
    assert logs[-1].endswith(f"validation {history[-1][1]:.3f} nats/char after 40 steps, {history[-1][2]:.1f} s")
    assert type(model) is example.CharTransformer


def test_char_transformer_is_validated_on_the_char_lstm_examples_windows():
    import numpy as np
    import shakespeare_char_lstm as lstm
    import shakespeare_transformer as example
    ids = np.arange(5000) % 61
    x, y = example.validation_windows(ids, 128)
    rng = np.random.default_rng(1)  # as lstm.validation_loss draws them: 20 batches of 64
    expected = [lstm.random_windows(ids, 128, 64, rng) for _ in range(20)]
    np.testing.assert_array_equal(x, np.concatenate([bx for bx, _ in expected]))
    np.testing.assert_array_equal(y, np.concatenate([by for _, by in expected]))
