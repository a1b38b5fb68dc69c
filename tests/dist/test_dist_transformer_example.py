"""``examples/shakespeare_transformer.py`` runs as printed in its docstring: data-parallel on an embedded Spark,
then split over a 1 x 2 mesh, on a small slice of Shakespeare."""
import pathlib
import re
import subprocess
import sys

import pytest

from sparktensor.data import DatasetMissingError, load_shakespeare
from conftest import HAVE_SPARK, SPARK_SKIP

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "shakespeare_transformer.py"
SUMMARY = r"^{}: validation ([\d.]+) nats/char after 30 steps, ([\d.]+) s$"


def _run(*args):
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=600)


def test_the_example_trains_on_spark_both_ways_and_reports_validation_loss_and_wall_time():
    if not HAVE_SPARK:
        pytest.skip(SPARK_SKIP)
    try:
        load_shakespeare()
    except DatasetMissingError as e:
        pytest.skip(str(e))
    done = _run("--steps", "30", "--tau", "5", "--seq-len", "32", "--batch-size", "16", "--d-model", "32",
                "--layers", "1", "--lr", "1e-2", "--warmup", "5", "--eval-every", "15", "--text-limit", "300000")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("data-parallel (ParameterAveraging, 2 workers, tau 5) on SparkEngine: 18,667 parameters, 8,906 "
            "training windows of 32 characters, 6 rounds") in done.stdout
    assert "model-parallel (HybridTrainer, 1 x 2 mesh) on SparkEngine: 18,667 parameters" in done.stdout
    for how in (r"data-parallel \(ParameterAveraging, 2 workers, tau 5\)",
                r"model-parallel \(HybridTrainer, 1 x 2 mesh\)"):
        found = re.search(SUMMARY.format(how), done.stdout, re.M)
        assert found, done.stdout
        assert float(found.group(1)) < 3.3, done.stdout  # the unigram entropy of this text is 3.37 nats/char
        assert float(found.group(2)) > 0
    assert "[Stage" not in done.stderr  # no progress bars


def test_a_malformed_mesh_is_named():
    done = _run("--mesh", "1x2x3")
    assert done.returncode == 2
    assert "--mesh must be DxM with positive integers, e.g. 1x2; got '1x2x3'" in done.stderr
