"""A scalability test of your own network: copy this file next to your tests, put your model and data in it, and
run it on the engines and worker counts you want to compare::

    pip install 'sparktensor[bench,spark]'          # add dask for --st-engines dask
    python -m pytest test_my_scaling.py --st-engines spark,dask --st-workers 1,2,4 --benchmark-only

Each (engine, K) is one test, timed by pytest-benchmark. At the end pytest prints, per engine, the throughput,
speed-up and efficiency over the smallest K, the measured compute per step (C) and communication per round (S),
and SparkNet's projected speed-up to K = 64; ``--benchmark-json=out.json`` keeps the same figures, and the
figure is drawn to ``scaling.png`` (``--st-plot``). See docs/scaling.md.
"""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F

FEATURES, CLASSES, SAMPLES = 32, 4, 4096


def my_model():
    """Your network, built afresh for every run (the fixture seeds it the same way each time)."""
    return nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, CLASSES))


@pytest.fixture(scope="module")
def my_data():
    """Your training data as ``(x, y)`` arrays; the fixture cuts it into K partitions for each run."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
    return x, x[:, :CLASSES].argmax(axis=1)


@pytest.mark.scaling(engines=["spark"], workers=[1, 2])  # this test's defaults; the command line wins
def test_my_model_scales(scaling, my_data):
    result = scaling(my_model, my_data, loss=F.cross_entropy,
                     optimizer=lambda parameters: st.optim.Adam(parameters, lr=1e-3),
                     tau=10, batch_size=64, epochs=1)
    assert result.samples >= SAMPLES  # at least one epoch: rounds of tau steps may go past its end
    assert result.compute_per_step > 0 and result.communication_per_round >= 0
