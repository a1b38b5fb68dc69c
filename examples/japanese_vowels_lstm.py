"""An LSTM classifier of speakers from the JapaneseVowels time series (UCR/UEA archive).

    python examples/japanese_vowels_lstm.py               # ~97% test accuracy
    python examples/japanese_vowels_lstm.py --epochs 5

Needs the archive: pip download --no-deps -d ~/.cache/sparktensor/datasets sktime==1.2.0
"""
import argparse

import numpy as np

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor import optim
from sparktensor.data import DataLoader, TensorDataset, load_ucr


class SequenceClassifier(nn.Module):
    """An LSTM over the series; the output at each series' last real step goes to a linear classifier."""

    def __init__(self, channels, classes, hidden=64, layers=1):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, series, lengths):
        out, _ = self.lstm(series)
        last = out[st.arange(out.shape[0]), lengths - 1]
        return self.head(last)


def standardized(train, test):
    """Scale each channel by the training set's mean and std over real (unpadded) steps."""
    mask = np.arange(train.series.shape[1])[None, :] < train.lengths[:, None]
    mean = train.series[mask].mean(axis=0)
    std = train.series[mask].std(axis=0) + 1e-6
    return [((d.series - mean) / std).astype(np.float32) for d in (train, test)]


@st.no_grad()
def accuracy(model, series, lengths, labels):
    """Fraction of correctly classified series."""
    model.eval()
    predicted = model(st.tensor(series), st.tensor(lengths)).argmax(axis=1).numpy()
    model.train()
    return float((predicted == labels).mean())


def train(epochs=20, batch_size=16, hidden=64, lr=5e-3, seed=0, log=print):
    """Train with Adam; returns the model and the test accuracy."""
    st.manual_seed(seed)
    train_set, test_set = load_ucr("JapaneseVowels", "train"), load_ucr("JapaneseVowels", "test")
    train_x, test_x = standardized(train_set, test_set)
    model = SequenceClassifier(train_x.shape[2], len(train_set.classes), hidden)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(train_x, train_set.lengths, train_set.labels), batch_size=batch_size,
                        shuffle=True, seed=seed)
    for epoch in range(1, epochs + 1):
        for series, lengths, labels in loader:
            loss = F.cross_entropy(model(series, lengths), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 10 == 0 or epoch == epochs:
            acc = accuracy(model, test_x, test_set.lengths, test_set.labels)
            log(f"epoch {epoch}: train loss {loss.item():.4f}  test accuracy {acc:.4f}")
    return model, accuracy(model, test_x, test_set.lengths, test_set.labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    args = parser.parse_args()
    train(args.epochs, hidden=args.hidden, lr=args.lr)


if __name__ == "__main__":
    main()
