"""Recurrent networks: a character language model and a sequence classifier."""
from .. import nn
from ..creation import arange


class CharLSTM(nn.Module):
    """Embedding, stacked LSTM, linear read-out; logits (N, vocab, L), the layout ``cross_entropy`` takes."""

    def __init__(self, vocab_size, embed=64, hidden=256, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids):
        out, _ = self.lstm(self.embed(ids))
        return self.head(out).transpose(0, 2, 1)


class LSTMClassifier(nn.Module):
    """An LSTM over zero-padded series (N, T, C); the output at each series' last non-zero step is classified."""

    def __init__(self, channels, classes, hidden=64, layers=1):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, series):
        out, _ = self.lstm(series)
        # padding is all-zero steps at the end: the length is the number of steps with any non-zero value
        lengths = (series != 0).any(axis=2).sum(axis=1)
        last = out[arange(out.shape[0]), (lengths - 1).clip(0, None)]
        return self.head(last)
