"""On a real Spark standalone cluster (a master and two 1-core workers from the installed pyspark, started and
stopped here): the README's main job through ``sparktensor train --master``, and the model-parallel script of
``docs/cluster.md`` through ``spark-submit``, each training as the in-process reference does."""
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import sparktensor as st
from sparktensor import cli
from standalone_cluster import StandaloneCluster, java, spark_home

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAIN_JOB = ["train", "--model", "lenet", "--dataset", "fashion-mnist", "--workers", "2", "--epochs", "1",
            "--limit", "2000", "--tau", "5"]  # the README's first command, on 2,000 samples for one epoch

HAVE_SPARK = all(importlib.util.find_spec(m) is not None for m in ("pyspark", "pyarrow", "pandas"))

pytestmark = [pytest.mark.skipif(not HAVE_SPARK, reason="pyspark, pyarrow and pandas are needed: "
                                                         "pip install 'sparktensor[spark]'"),
              pytest.mark.skipif(java() is None, reason="a standalone Spark cluster needs Java: no java on PATH "
                                                        "or in $JAVA_HOME (install OpenJDK 17 or 21)")]


@pytest.fixture(scope="module")
def cluster():
    """A master and two workers of one core each, on free ports; every process of theirs ends with the module."""
    with StandaloneCluster(workers=2, cores=1, memory="2g") as running:
        yield running
    leftovers = running.leftovers()
    assert not leftovers, f"processes of the standalone cluster still run after it stopped: {leftovers}"


def _finish(cluster, driver, what, timeout=300):
    """Wait for a driver process; its output, or an error with that output and the cluster's logs."""
    try:
        out, _ = driver.communicate(timeout=timeout)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert driver.returncode == 0, f"{what} failed with exit code {driver.returncode}:\n{out[-6000:]}\n" \
                                   f"{cluster.logs()}"
    return out


def _application(cluster, name):
    """The master's record of the finished application ``name`` (the last one of that name)."""
    apps = [app for app in cluster.state().get("completedapps", []) if app["name"] == name]
    assert apps, f"the master ran no application named {name!r}: {cluster.state().get('completedapps')}"
    return apps[-1]


def _assert_same_weights(path, reference):
    trained, expected = st.load(str(path)), st.load(str(reference))
    assert list(trained) == list(expected)
    for key in trained:
        np.testing.assert_allclose(np.asarray(trained[key]), np.asarray(expected[key]), rtol=1e-6, atol=1e-7,
                                   err_msg=key)


def test_main_job_trains_on_the_cluster_as_in_one_process(cluster, tmp_path):
    driver = cluster.launch([sys.executable, "-m", "sparktensor.cli", *MAIN_JOB, "--master", cluster.url,
                             "--out", str(tmp_path / "cluster")], cwd=tmp_path)
    try:  # the reference, while the cluster trains
        assert cli.main([*MAIN_JOB, "--engine", "local", "--out", str(tmp_path / "local")]) == 0
    except BaseException:
        driver.kill()
        raise
    out = _finish(cluster, driver, "sparktensor train --master " + cluster.url)

    app = _application(cluster, "sparktensor")
    assert app["cores"] == 2, app  # one core on each worker: two executors
    history = json.loads((tmp_path / "cluster" / "history.json").read_text())
    assert history[-1]["accuracy"] > 0.4, out[-2000:]  # chance is 0.1; about 0.6 after 4 rounds
    reference = json.loads((tmp_path / "local" / "history.json").read_text())
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in reference], rel=1e-6)
    assert history[-1]["accuracy"] == reference[-1]["accuracy"]
    _assert_same_weights(tmp_path / "cluster" / "model.safetensors", tmp_path / "local" / "model.safetensors")


def _cluster_script():
    """The ``spark-submit`` script of docs/cluster.md, as printed."""
    page = (ROOT / "docs" / "cluster.md").read_text()
    scripts = [code for code in re.findall(r"```python\n(.*?)```", page, flags=re.S)
               if code.startswith("# train_on_cluster.py")]
    assert len(scripts) == 1, "docs/cluster.md should hold one python block starting '# train_on_cluster.py'"
    return scripts[0]


def test_model_parallel_script_of_the_docs_runs_through_spark_submit(cluster, tmp_path, monkeypatch):
    script = _cluster_script()
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "train_on_cluster.py").write_text(script)
    driver = cluster.launch([os.path.join(spark_home(), "bin", "spark-submit"), "--master", cluster.url,
                             "--conf", "spark.ui.enabled=false", "train_on_cluster.py"], cwd=tmp_path / "cluster")
    try:  # the reference, while the cluster trains: the same script on the in-process engine
        session = 'dist.SparkEngine(SparkSession.builder.appName("digits-mlp").getOrCreate())'
        assert script.count(session) == 1
        (tmp_path / "local").mkdir()
        monkeypatch.chdir(tmp_path / "local")
        exec(compile(script.replace(session, "dist.LocalEngine()"), "train_on_cluster.py", "exec"),
             {"__name__": "__main__"})
    except BaseException:
        driver.kill()
        raise
    out = _finish(cluster, driver, "spark-submit train_on_cluster.py")

    app = _application(cluster, "digits-mlp")
    assert app["cores"] == 2, app
    found = re.search(r"SparkEngine\(master='([^']+)', workers=(\d+)\): test accuracy ([0-9.]+)", out)
    assert found, out[-4000:]
    assert found.group(1) == cluster.url and found.group(2) == "2"
    assert float(found.group(3)) > 0.8, out[-2000:]  # ten classes: chance is 0.1
    _assert_same_weights(tmp_path / "cluster" / "digits-mlp.safetensors",
                         tmp_path / "local" / "digits-mlp.safetensors")
