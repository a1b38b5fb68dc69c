"""Shared fixtures: every array test runs once per available backend; Hypothesis's settings for every run."""
import os

import numpy as np
import pytest

from backends import BACKENDS

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # only the property tests need it
    settings = None

if settings is not None:
    # "repeatable" (the default): the same examples on every run, so a run cannot fail by the luck of the draw and
    # a failure reproduces; no time limit on an example or on drawing one, since a busy machine may take seconds.
    # "explore" (SPARKTENSOR_HYPOTHESIS_PROFILE=explore): fresh random examples each run, to look for new failures.
    settings.register_profile("repeatable", derandomize=True, database=None, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("SPARKTENSOR_HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(params=BACKENDS)
def device(request):
    """The device string of the backend under test: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
    return request.param


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, so failures reproduce."""
    return np.random.default_rng(1234)
