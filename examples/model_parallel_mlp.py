"""An MLP on Fashion-MNIST with its weight matrices split across ranks: ``dist.HybridTrainer`` on a D x M mesh.

    python examples/model_parallel_mlp.py                          # 1 x 2 mesh, ranks as local processes
    python examples/model_parallel_mlp.py --epochs 1 --limit 2000  # a quick look
    python examples/model_parallel_mlp.py --engine spark --mesh 1x2

``dist.shard`` splits the network Megatron-style: the first ``Linear`` by its output features (each of the M
ranks of a replica holds 1/M of its rows), the second by its input features (1/M of its columns, one
all-reduce of the partial products), the last by its classes (gathered). The M ranks see the same batches;
with D > 1 each replica reads its own part of the data and the replicas' gradients are all-reduced every
step. Test loss and accuracy are computed on the ranks, by the split model, once an epoch.

Needs the data set: apt-get update && apt-get install -y dataset-fashion-mnist
"""
import argparse
import math
import time

import numpy as np

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.data import load_fashion_mnist

MEAN, STD = 0.2860, 0.3530  # of the training images


def load(split, limit=None):
    """Standardized images, flattened to (N, 784) float32, and int64 labels: the first ``limit`` of them."""
    images, labels = load_fashion_mnist(split=split, normalize=True)
    images, labels = images[:limit], labels[:limit]
    return ((images.reshape(len(images), -1) - MEAN) / STD).astype(np.float32), labels


def mlp(hidden=512):
    """784 -> hidden -> hidden -> 10 with ReLUs: one column/row-parallel pair, then a class-split output layer."""
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def parse_mesh(text):
    """``"DxM"`` -> ``dist.Mesh(data=D, model=M)``."""
    try:
        data, model = (int(part) for part in text.lower().split("x"))
        return dist.Mesh(data=data, model=model)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mesh must be DxM with positive integers, e.g. 1x2; got {text!r}")


def make_engine(name, mesh):
    """``(engine, gang options)``: local processes, or an embedded Spark with a task slot per rank."""
    if name == "spark":
        return dist.SparkEngine(master=f"local[{mesh.world_size}]"), {}
    return dist.LocalEngine(), {"mode": "processes"}


def train(mesh, engine="local", epochs=2, limit=None, hidden=512, batch_size=128, lr=1e-3, seed=0, log=print):
    """Train; returns the trained (ordinary) model, its history and its final test accuracy."""
    st.manual_seed(seed)
    x, y = load("train", limit)
    test_x, test_y = load("test", None if limit is None else max(limit // 6, 1000))
    model = mlp(hidden)
    engine, gang = make_engine(engine, mesh)
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=lr), mesh=mesh,
                                 batch_size=batch_size, seed=seed, engine=engine, gang=gang, progress=False)
    rounds_per_epoch = math.ceil(len(x) / (mesh.data * batch_size))  # one round is one step (sync="gradients")
    start = time.perf_counter()

    def report(record):
        if record.get("accuracy") is not None:
            log(f"epoch {record['epoch']:.2f}: train loss {record['loss']:.4f}  test loss {record['eval_loss']:.4f}  "
                f"test accuracy {record['accuracy']:.4f}  ({time.perf_counter() - start:.1f} s)")

    log(f"{sum(p.size for p in model.parameters()):,} parameters on a {mesh.data} x {mesh.model} mesh "
        f"({type(engine).__name__}); {len(x)} training and {len(test_x)} test images")
    model, history = trainer.fit((x, y), epochs=epochs, eval_data=(test_x, test_y), eval_every=rounds_per_epoch,
                                 callback=report)
    return model, history, history.last["accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="local: ranks as processes of this machine; spark: an embedded local Spark")
    parser.add_argument("--mesh", type=parse_mesh, default=dist.Mesh(data=1, model=2), metavar="DxM",
                        help="D replicas, each split over M ranks (default 1x2)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _, _, accuracy = train(args.mesh, args.engine, args.epochs, args.limit, args.hidden, args.batch_size, args.lr,
                           args.seed)
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
