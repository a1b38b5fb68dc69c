"""Shared fixtures: every array test runs once per available backend."""
import numpy as np
import pytest

from backends import BACKENDS


@pytest.fixture(params=BACKENDS)
def device(request):
    """The device string of the backend under test: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
    return request.param


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, so failures reproduce."""
    return np.random.default_rng(1234)
