"""LeNet-5 on Fashion-MNIST.

    python examples/fashion_mnist_lenet.py                 # 12 epochs, Adam with cosine decay: ~90% test accuracy
    python examples/fashion_mnist_lenet.py --epochs 1 --limit 2000

Needs the data set: apt-get update && apt-get install -y dataset-fashion-mnist
"""
import argparse
import time

import numpy as np

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor import optim
from sparktensor.data import DataLoader, TensorDataset, load_fashion_mnist
from sparktensor.models import LeNet5

MEAN, STD = 0.2860, 0.3530  # of the training images


def lenet5():
    """Two 5x5 convolutions with max pooling, then three fully connected layers (``sparktensor.models.LeNet5``)."""
    return LeNet5(channels=1, classes=10)


def load(split, limit=None):
    """Standardized images (N, 1, 28, 28) and labels, the first ``limit`` of them."""
    images, labels = load_fashion_mnist(split=split, normalize=True)
    images, labels = images[:limit], labels[:limit]
    return ((images - MEAN) / STD).reshape(-1, 1, 28, 28).astype(np.float32), labels


@st.no_grad()
def accuracy(model, images, labels, batch_size=1000):
    """Fraction of correctly classified images."""
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = model(st.tensor(images[start:start + batch_size]))
        correct += int((logits.argmax(axis=1).numpy() == labels[start:start + batch_size]).sum())
    model.train()
    return correct / len(labels)


def train(epochs=12, batch_size=64, lr=2e-3, limit=None, seed=0, log=print):
    """Train with Adam and a cosine learning-rate decay; returns the model and its test accuracy per epoch."""
    st.manual_seed(seed)
    train_x, train_y = load("train", limit)
    test_x, test_y = load("test", None if limit is None else max(limit // 6, 1000))
    model = lenet5()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=batch_size, shuffle=True, seed=seed)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    history = []
    for epoch in range(1, epochs + 1):
        start, total = time.perf_counter(), 0.0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
        acc = accuracy(model, test_x, test_y)
        history.append(acc)
        log(f"epoch {epoch}: train loss {total / len(loader):.4f}  test accuracy {acc:.4f}  "
            f"({time.perf_counter() - start:.1f} s)")
    return model, history


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.epochs, args.batch_size, args.lr, args.limit, args.seed)


if __name__ == "__main__":
    main()
