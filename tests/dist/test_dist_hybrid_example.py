"""``examples/model_parallel_mlp.py`` runs as printed in its docstring, on a small slice of Fashion-MNIST."""
import pathlib
import re
import subprocess
import sys

import pytest

from sparktensor.data import DatasetMissingError, load_fashion_mnist

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "model_parallel_mlp.py"


def _run(*args):
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=300)


def test_the_example_trains_an_mlp_split_over_two_ranks_and_prints_its_test_accuracy():
    try:
        load_fashion_mnist(split="test")
    except DatasetMissingError as e:
        pytest.skip(str(e))
    done = _run("--epochs", "1", "--limit", "2000")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "669,706 parameters on a 1 x 2 mesh (LocalEngine); 2000 training and 1000 test images" in done.stdout
    assert re.search(r"^epoch 1\.00: train loss [\d.]+  test loss [\d.]+  test accuracy [\d.]+", done.stdout, re.M)
    accuracy = float(re.search(r"^test accuracy ([\d.]+)$", done.stdout, re.M).group(1))
    assert accuracy > 0.65, done.stdout  # 10 classes: chance is 0.1; one epoch of 2,000 images gives about 0.75


def test_a_malformed_mesh_is_named():
    done = _run("--mesh", "2by2")
    assert done.returncode == 2
    assert "--mesh must be DxM with positive integers, e.g. 1x2; got '2by2'" in done.stderr
