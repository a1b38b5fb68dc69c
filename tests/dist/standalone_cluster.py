"""A Spark standalone cluster on this machine, for the tests: a master and workers started from the installed
pyspark with ``bin/spark-class`` (its ``sbin/`` has no ``start-master.sh``), stopped by process id.

    with StandaloneCluster(workers=2) as cluster:
        driver = cluster.launch(["spark-submit", "--master", cluster.url, "script.py"])

Ports are picked free (never 7077/8080). Every process the cluster starts carries a marker in its environment,
so that ``stop`` finds and ends all of them, executors and their Python workers included, and a test can
check that none is left (``leftovers``). The master and workers also die with the process that started them
(Linux's parent-death signal), so even a killed test run leaves no JVMs behind.
"""
import atexit
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MARKER = "SPARKTENSOR_STANDALONE_CLUSTER"


def java():
    """The ``java`` Spark would run (``$JAVA_HOME/bin/java``, else the one on ``PATH``), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def spark_home():
    """The installed pyspark package, which holds ``bin/spark-class`` and the jars."""
    import pyspark
    return os.path.dirname(os.path.abspath(pyspark.__file__))


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on at ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies (the JVM's shutdown hook then stops its
    executors), and a process group of its own, so that ``stop`` can signal it with everything it started."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class StandaloneCluster:
    """A standalone master and ``workers`` workers of ``cores`` cores and ``memory`` each, on ``host``.

    ``url`` is the master's ``spark://`` URL, ``env`` the environment a driver should run with (Spark's
    local address, this interpreter for the Python workers).
    """

    def __init__(self, workers=2, cores=1, memory="2g", host="127.0.0.1"):
        self.workers, self.cores, self.memory, self.host = workers, cores, memory, host
        self.dir = tempfile.mkdtemp(prefix="sparktensor-standalone-")
        self.processes = []  # (name, Popen, log path)
        self.port = self.web_port = None
        # no port retries: a port taken meanwhile stops the process at once, and start() picks new ones
        no_retries = "-Dspark.port.maxRetries=0"
        self.env = dict(os.environ, SPARK_HOME=spark_home(), SPARK_LOCAL_IP=host, PYSPARK_PYTHON=sys.executable,
                        SPARK_LOCAL_DIRS=os.path.join(self.dir, "local"), SPARK_MASTER_OPTS=no_retries,
                        SPARK_WORKER_OPTS=no_retries,
                        SPARK_CONF_DIR=os.path.join(self.dir, "conf"))  # empty: no site settings leak in
        for sub in ("local", "conf", "work", "logs"):
            os.makedirs(os.path.join(self.dir, sub))
        self._stopped = False
        atexit.register(self.stop)

    @property
    def url(self):
        """The master's URL, ``spark://host:port``."""
        return f"spark://{self.host}:{self.port}"

    def _spark_class(self, name, cls, *args):
        log = os.path.join(self.dir, "logs", f"{name}.log")
        with open(log, "w") as out:
            process = subprocess.Popen([os.path.join(spark_home(), "bin", "spark-class"), cls, *args],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       env=dict(self.env, **{MARKER: self.dir}), preexec_fn=_die_with_parent)
        self.processes.append((name, process, log))

    def start(self, timeout=120, attempts=3):
        """Start the master, then the workers, on free ports; return once every worker has registered with the
        master. A process that exits while starting (a port taken since it was picked) starts it all again."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start(timeout)
            except _Exited:
                self._end_processes()
                if attempt == attempts:
                    raise

    def _start(self, timeout):
        self.port, self.web_port = free_port(self.host), free_port(self.host)
        self._spark_class("master", "org.apache.spark.deploy.master.Master", "--host", self.host,
                          "--port", str(self.port), "--webui-port", str(self.web_port))
        for i in range(self.workers):
            self._spark_class(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", self.url,
                              "--host", self.host, "--cores", str(self.cores), "--memory", self.memory,
                              "--webui-port", str(free_port(self.host)),
                              "--work-dir", os.path.join(self.dir, "work"))
        deadline = time.monotonic() + timeout
        while True:
            dead = [(name, p.returncode) for name, p, _ in self.processes if p.poll() is not None]
            if dead:
                raise _Exited(f"the standalone {dead[0][0]} exited with code {dead[0][1]}:\n{self.logs()}")
            alive = self.state().get("aliveworkers", 0)
            if alive == self.workers:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"{alive} of {self.workers} workers registered with {self.url} within "
                                   f"{timeout} s:\n{self.logs()}")
            time.sleep(0.5)

    def launch(self, args, cwd=None):
        """Start a driver (``spark-submit ...``, a ``sparktensor`` command) against the cluster, in the cluster's
        environment and marked as its own, so that ``stop`` ends it too; output and errors go to a pipe."""
        return subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=dict(self.env, **{MARKER: self.dir}),
                                preexec_fn=_die_with_parent)

    def state(self):
        """The master's status as its web UI serves it as JSON (``{}`` while it is not up)."""
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.web_port}/json/", timeout=5) as answer:
                return json.load(answer)
        except (OSError, ValueError):
            return {}

    def logs(self, tail=3000):
        """The end of the master's, each worker's and each executor's log, for error messages."""
        paths = [(name, path) for name, _, path in self.processes]
        executors = sorted(glob.glob(os.path.join(self.dir, "work", "app-*", "*", "stderr")))
        paths += [(f"executor {os.path.relpath(path, os.path.join(self.dir, 'work'))}", path) for path in executors]
        parts = []
        for name, path in paths:
            try:
                with open(path, errors="replace") as f:
                    parts.append(f"--- {name} ---\n{f.read()[-tail:]}")
            except OSError:
                pass
        return "\n".join(parts)

    def leftovers(self):
        """Process ids still running with this cluster's marker (the cluster's JVMs and their children)."""
        found = []
        for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read().split(b"\0")
            except OSError:
                continue
            if f"{MARKER}={self.dir}".encode() in environ:
                found.append(int(pid))
        return found

    def stop(self, timeout=30):
        """Stop the workers, then the master (SIGTERM to each one's process group, SIGKILL after ``timeout``);
        then end any process of this cluster still running, by its id, and remove the cluster's directory."""
        if self._stopped:
            return
        self._stopped = True
        self._end_processes(timeout)
        shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.stop)

    def _end_processes(self, timeout=30):
        for _, process, _ in reversed(self.processes):
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, process, _ in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []
        for _ in range(50):  # executors and Python workers end on their own once their parent has gone
            if not self.leftovers():
                return
            time.sleep(0.2)
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False


class _Exited(RuntimeError):
    """A process of the cluster exited while it was starting."""


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
