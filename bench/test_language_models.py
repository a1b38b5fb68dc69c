"""The character Transformer against the character LSTM on Shakespeare, in the same training wall time.

Both train in ONE process on ``BENCH_THREADS`` threads (BLAS through threadpoolctl and sparktensor's own pool;
default 1), alternating in time slices: ``SLICE`` LSTM steps, then Transformer steps until the Transformer's
accumulated training time has caught up with the LSTM's. Each side's training time (batch, forward, backward,
clipping, optimizer) is accumulated separately; evaluations are not counted. The race ends when the LSTM has
done its ``BENCH_LM_STEPS`` steps (default 1,500) and the Transformer has trained as long. Because the slices
alternate, whatever load others put on the machine hits both sides alike.

* LSTM: exactly ``examples/shakespeare_char_lstm.py``'s configuration (2 x 256, Adam 3e-3 with cosine decay
  over its steps, clipping at 1.0, batches of 64 x 100 characters, seed 0), which reached 1.483 nats/char.
* Transformer: ``examples/shakespeare_transformer.py``'s defaults (``CONFIG`` below), AdamW with a linear
  warm-up over ``warmup`` steps and a cosine decay over *time*: its progress is its training time over the
  LSTM's projected total (the LSTM's time per step so far times its step count), so the decay ends when the
  race does whatever the machine's speed.

Both are evaluated by ``shakespeare_char_lstm.validation_loss``: the same 20 x 64 windows of 128 characters
from the last 5% of the text (seed 1), each window read from its first character with no carried state.
Goal: the Transformer's validation loss below the LSTM's.

Run: ``BENCH_THREADS=1 python -m pytest bench/test_language_models.py --benchmark-only -s -q`` (some 60 to 80
minutes on a shared machine); ``BENCH_LM_STEPS=30`` checks the code path in about a minute (cosine schedules
over 30 steps; the losses then mean nothing).
"""
import math
import os
import pathlib
import sys
import time

import numpy as np
import pytest

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor import optim
from sparktensor.data import CharVocab, DatasetMissingError, load_shakespeare, train_val_split
from sparktensor.models import CharTransformer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import shakespeare_char_lstm as charlm  # noqa: E402
import shakespeare_transformer as example  # noqa: E402

LSTM_STEPS = int(os.environ.get("BENCH_LM_STEPS", 1500))
THREADS = int(os.environ.get("BENCH_THREADS", 1))
SLICE = 20
CONFIG = dict(d_model=example.DEFAULTS["d_model"], nhead=example.DEFAULTS["heads"],
              layers=example.DEFAULTS["layers"], seq_len=example.DEFAULTS["seq_len"],
              batch_size=example.DEFAULTS["batch_size"], lr=example.DEFAULTS["lr"],
              warmup=example.DEFAULTS["warmup"], dropout=example.DEFAULTS["dropout"],
              weight_decay=example.DEFAULTS["weight_decay"])


class Trainer:
    """One side of the race: ``step()`` trains one batch and adds its wall time to ``seconds``."""

    def __init__(self, model, loss_of_batch, optimizer, before_step=None, after_step=None):
        self.model, self.loss_of_batch, self.optimizer = model, loss_of_batch, optimizer
        self.before_step, self.after_step = before_step, after_step
        self.steps, self.seconds, self.last_loss = 0, 0.0, float("nan")

    def step(self):
        """One optimizer step, timed from drawing the batch to the parameter update."""
        start = time.perf_counter()
        if self.before_step is not None:
            self.before_step(self)
        loss = self.loss_of_batch()
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        if self.after_step is not None:
            self.after_step()
        self.seconds += time.perf_counter() - start
        self.steps += 1
        self.last_loss = loss.item()

    def parameters(self):
        """Number of trainable scalars."""
        return sum(p.size for p in self.model.parameters())


def lstm_trainer(train_ids, vocab_size, steps, seed=0):
    """``shakespeare_char_lstm.train``'s model, batches, Adam, cosine schedule and clipping, one step at a time."""
    st.manual_seed(seed)
    model = charlm.CharLSTM(vocab_size)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(seed)

    def loss_of_batch():
        x, y = charlm.random_windows(train_ids, 100, 64, rng)
        logits, _ = model(st.tensor(x))
        return F.cross_entropy(logits.reshape(-1, vocab_size), st.tensor(y.reshape(-1)))

    return Trainer(model, loss_of_batch, optimizer, after_step=scheduler.step)


def transformer_trainer(train_ids, vocab_size, budget, d_model, nhead, layers, seq_len, batch_size, lr, warmup,
                        dropout, weight_decay, seed=0):
    """The Transformer LM with AdamW: linear warm-up over ``warmup`` steps, then a cosine decay over the
    fraction of ``budget()`` seconds spent so far (zero once it is all spent)."""
    st.manual_seed(seed)
    model = CharTransformer(vocab_size, d_model=d_model, nhead=nhead, layers=layers, max_len=seq_len,
                            dropout=dropout)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed + 1)

    def loss_of_batch():
        x, y = charlm.random_windows(train_ids, seq_len, batch_size, rng)
        return F.cross_entropy(model(st.tensor(x)), st.tensor(y))

    def set_lr(trainer):
        progress = min(trainer.seconds / max(budget(), 1e-9), 1.0)
        factor = (trainer.steps + 1) / warmup if trainer.steps < warmup else 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr * factor

    return Trainer(model, loss_of_batch, optimizer, before_step=set_lr)


class LogitsFirst(nn.Module):
    """``CharTransformer`` read as ``CharLSTM`` is: ``(logits (N, L, vocab), None)``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, state=None):
        return self.model(ids).transpose(0, 2, 1), None


def race(lstm, transformer, lstm_steps, slice_steps=SLICE, validate=None, validate_every=300, log=print):
    """Alternate ``slice_steps`` LSTM steps with Transformer steps until its time catches up, ``lstm_steps`` in
    all; then the Transformer trains on until it has had as much time. Every ``validate_every`` LSTM steps
    (untimed) logs ``validate()``'s figures."""
    while lstm.steps < lstm_steps:
        for _ in range(min(slice_steps, lstm_steps - lstm.steps)):
            lstm.step()
        while transformer.seconds < lstm.seconds:
            transformer.step()
        if lstm.steps % 100 == 0 or lstm.steps == lstm_steps:
            log(f"LSTM {lstm.steps} steps {lstm.seconds:.0f} s train loss {lstm.last_loss:.3f} | Transformer "
                f"{transformer.steps} steps {transformer.seconds:.0f} s train loss {transformer.last_loss:.3f}")
        if validate is not None and lstm.steps % validate_every == 0 and lstm.steps < lstm_steps:
            log(f"  validation at {lstm.seconds:.0f} s: " + ", ".join(f"{name} {loss:.3f}"
                                                                     for name, loss in validate().items()))


def corpus():
    """``(vocabulary size, training ids, validation ids)`` of the whole text, split as the examples split it."""
    try:
        text = load_shakespeare()
    except DatasetMissingError as e:
        pytest.skip(str(e))
    vocab = CharVocab(text)
    train_ids, val_ids = train_val_split(vocab.encode(text), 0.05)
    return len(vocab), train_ids, val_ids


def compare(lstm_steps=LSTM_STEPS, config=CONFIG, log=print):
    """Race the two models and evaluate both; returns a dict of figures per side."""
    vocab_size, train_ids, val_ids = corpus()
    lstm = lstm_trainer(train_ids, vocab_size, lstm_steps)
    transformer = transformer_trainer(train_ids, vocab_size, lambda: lstm.seconds / max(lstm.steps, 1) * lstm_steps,
                                      **config)
    sides = {"LSTM": (lstm, lstm.model), "Transformer": (transformer, LogitsFirst(transformer.model))}

    def validate():
        return {name: charlm.validation_loss(model, val_ids) for name, (_, model) in sides.items()}

    race(lstm, transformer, lstm_steps, validate=validate, log=log)
    return {name: dict(validation=loss, seconds=sides[name][0].seconds, steps=sides[name][0].steps,
                       parameters=sides[name][0].parameters()) for name, loss in validate().items()}


@pytest.mark.benchmark(group="examples, full runs")
def test_transformer_beats_the_char_lstm_in_the_same_wall_time(benchmark):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(THREADS):
        threads = st.get_num_threads()
        st.set_num_threads(THREADS)
        try:
            figures = benchmark.pedantic(compare, rounds=1)
        finally:
            st.set_num_threads(threads)
    print(f"\n{THREADS} thread(s); Transformer {CONFIG}")
    for name, f in figures.items():
        print(f"{name}: validation {f['validation']:.3f} nats/char after {f['steps']} steps, {f['seconds']:.1f} s "
              f"of training, {f['parameters']:,} parameters")
    lstm, transformer = figures["LSTM"], figures["Transformer"]
    assert lstm["steps"] == LSTM_STEPS
    assert abs(transformer["seconds"] - lstm["seconds"]) < 0.05 * lstm["seconds"] + 5.0  # the same wall time
    assert all(math.isfinite(f["validation"]) for f in figures.values())
    if LSTM_STEPS >= 1500:
        assert transformer["validation"] < 3.3 > lstm["validation"]  # both learned (unigram entropy 3.37 nats/char)
        reached = transformer["validation"] < lstm["validation"]
        print(f"goal (the Transformer below the LSTM in the same training time): "
              f"{'reached' if reached else 'not reached'}")
