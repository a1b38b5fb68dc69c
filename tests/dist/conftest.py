"""Fixtures of the dist tests: one ``local[2]`` SparkSession for the whole run, engines, and a local cluster.

Only one SparkContext can live in a process, so the ``local-cluster[2,1,1024]`` session (separate executor
JVMs) runs in a subprocess (``cluster_runner.py``). It is started as soon as the session begins when any
selected test needs it, so its slow start overlaps the other tests.
"""
import importlib.util
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading

import pytest

import sparktensor.dist as dist

HAVE_SPARK = all(importlib.util.find_spec(m) is not None for m in ("pyspark", "pyarrow", "pandas"))
SPARK_SKIP = "pyspark, pyarrow and pandas are needed: pip install 'sparktensor[spark]'"
CLUSTER_MASTER = "local-cluster[2,1,1024]"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster_runner.py")


@pytest.fixture(scope="session")
def spark():
    """The tests' SparkSession: 2 cores, up to 4 attempts per task (so a crashed task is retried), no UI."""
    if not HAVE_SPARK:
        pytest.skip(SPARK_SKIP)
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[2,4]").appName("sparktensor-dist-tests")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.pyspark.driver.python", sys.executable)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.python.worker.reuse", "true")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["local", "spark"])
def engine(request):
    """Each engine in turn: ``LocalEngine`` with 2 workers, then ``SparkEngine`` on the shared session."""
    if request.param == "local":
        return dist.LocalEngine(workers=2)
    return dist.SparkEngine(request.getfixturevalue("spark"))


@pytest.fixture
def spark_engine(spark):
    return dist.SparkEngine(spark)


class ClusterRunner:
    """A ``cluster_runner.py`` subprocess: ``call(job, **kwargs)`` runs a job there and returns its result."""

    def __init__(self, master):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sparktensor-cluster-", suffix=".log", delete=False)
        self.process = subprocess.Popen([sys.executable, RUNNER, master], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = False

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("@@"):
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            self.log.flush()
            with open(self.log.name) as f:
                tail = f.read()[-4000:]
            raise RuntimeError(f"the local-cluster runner gave no answer (exit code {self.process.poll()}); "
                               f"its log ends:\n{tail}")
        return line

    def call(self, job, timeout=300, **kwargs):
        if not self.ready:
            assert self._next(timeout) == "@@ready"
            self.ready = True
        self.process.stdin.write(json.dumps({"job": job, "kwargs": kwargs}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self._next(timeout)[len("@@result "):])
        if "error" in answer:
            raise RuntimeError(f"job {job} failed on the local cluster:\n{answer['error']}")
        return answer["ok"]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"job": "stop"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.remove(self.log.name)


_cluster = {}


def pytest_collection_modifyitems(items):
    """Tests on the local cluster run last, so that its slow start overlaps the other tests."""
    items.sort(key=lambda item: "local_cluster" in getattr(item, "fixturenames", ()))


def _cluster_runner():
    if "runner" not in _cluster:
        _cluster["runner"] = ClusterRunner(CLUSTER_MASTER)
    return _cluster["runner"]


@pytest.fixture(scope="session", autouse=True)
def _start_cluster_early(request):
    """Start the local cluster at once when a selected test will use it; stop it at the end."""
    if HAVE_SPARK and any("local_cluster" in getattr(item, "fixturenames", ()) for item in request.session.items):
        _cluster_runner()
    yield
    if "runner" in _cluster:
        _cluster.pop("runner").close()


@pytest.fixture(scope="session")
def local_cluster():
    """The ``local-cluster[2,1,1024]`` runner (2 executors in their own JVMs, 1 core and 1 GB each)."""
    if not HAVE_SPARK:
        pytest.skip(SPARK_SKIP)
    return _cluster_runner()
