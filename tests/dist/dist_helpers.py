"""Data and models shared by the dist tests and the local-cluster runner."""
import functools

import numpy as np

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F


@functools.lru_cache(maxsize=None)
def digits():
    """scikit-learn's digits in a fixed random order: float32 (1797, 64) in [0, 1] and int64 labels; read-only.

    (In the stored order the last few hundred, by other writers, are harder than the rest.)
    """
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = (x[order] / 16).astype(np.float32), y[order].astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def mlp(seed=0, hidden=32, dtype=None, inputs=64, outputs=10):
    """A small MLP with weights drawn from ``seed``."""
    st.manual_seed(seed)
    model = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, outputs))
    return model.to(dtype) if dtype is not None else model


def weights(model):
    """All parameters and buffers as one flat array."""
    return dist.FlatLayout(model).flatten(model)


def train_digits(engine, seed=0, rounds=4, workers=2, tau=3, batch_size=32, lr=0.1, data=None, **fit):
    """Parameter averaging of ``mlp()`` on 1,500 digits (or ``data``); returns ``(model, optimizer, history)``."""
    x, y = digits()
    model = mlp()
    optimizer = st.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=tau,
                                      batch_size=batch_size, seed=seed, engine=engine, progress=False)
    crash = fit.pop("crash", None)
    trainer._crash = crash
    model, history = trainer.fit((x[:1500], y[:1500]) if data is None else data, rounds=rounds, **fit)
    return model, optimizer, history
