"""Train the character LSTM here and in PyTorch from the same weights on the same batches; compare the losses.

    python examples/char_lstm_vs_pytorch.py      # needs torch and the Shakespeare corpus
"""
import numpy as np
import torch

import sparktensor as st
from sparktensor.data import CharVocab, load_shakespeare
from shakespeare_char_lstm import CharLSTM, random_windows


class TorchCharLSTM(torch.nn.Module):
    """The same network in PyTorch, with the same state-dict keys."""

    def __init__(self, vocab_size, embed, hidden, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab_size)

    def forward(self, x):
        return self.head(self.lstm(self.embed(x))[0])


def loss_pairs(steps=100, seq_len=100, batch_size=64, embed=64, hidden=256, layers=2, lr=3e-3, chars=1_000_000,
               seed=0):
    """``[(sparktensor loss, PyTorch loss)]`` per step, both trained with Adam from sparktensor's initial weights."""
    text = load_shakespeare()[:chars]
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    st.manual_seed(seed)
    ours = CharLSTM(len(vocab), embed=embed, hidden=hidden, layers=layers)
    theirs = TorchCharLSTM(len(vocab), embed, hidden, layers)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    opt_ours = st.optim.Adam(ours.parameters(), lr=lr)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(steps):
        x, y = random_windows(ids, seq_len, batch_size, rng)
        logits, _ = ours(st.tensor(x))
        loss = st.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), st.tensor(y.reshape(-1)))
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)).reshape(-1, len(vocab)),
                                                  torch.tensor(y.reshape(-1)))
        opt_theirs.zero_grad()
        tloss.backward()
        opt_theirs.step()
        pairs.append((loss.item(), tloss.item()))
    return pairs


if __name__ == "__main__":
    worst = max(abs(a - b) / b for a, b in loss_pairs())
    print(f"largest relative difference between the loss curves over 100 steps: {worst:.2e}")
