"""``sparktensor info``: the versions, devices and Spark set-up that sparktensor finds on this machine.

Versions are read from the installed packages' metadata, so nothing heavy is imported. Whether Spark can
start is answered in two depths: by default only whether pyspark and a Java runtime are found; with
``check_spark=True`` a local Spark session is started and runs a small job, and the seconds are reported.
"""
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time

import numpy as np

#: distributions whose versions are reported, by the name they are installed under
PACKAGES = ("pyspark", "pyarrow", "pandas", "dask", "distributed", "torch", "matplotlib")
#: the smallest Java release each Spark major version runs on
SPARK_JAVA = {3: 8, 4: 17}


def package_version(name):
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cupy_version():
    """CuPy's version (it is installed under several names, e.g. ``cupy-cuda12x``), or None."""
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy
    except Exception as e:  # installed but broken (a missing CUDA library, say)
        return f"installed, but does not import: {e}"
    return cupy.__version__


def parse_java_version(text):
    """The version in the output of ``java -version`` (``17.0.15``, ``1.8.0_392``), or None."""
    found = re.search(r'version "([^"]+)"', text) or re.search(r"^\S+ (\d[\w.+-]*)", text, flags=re.M)
    return found.group(1) if found else None


def java_major(version):
    """The Java release number of a version string: ``17.0.15`` -> 17, ``1.8.0_392`` -> 8."""
    parts = re.findall(r"\d+", version or "")
    if not parts:
        return None
    return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])


def find_java():
    """The ``java`` Spark would run: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def java_info():
    """``{"path", "version", "error"}`` of the Java runtime Spark would use."""
    path = find_java()
    if path is None:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") else \
            "no java on PATH and JAVA_HOME is not set"
        return {"path": None, "version": None, "error": where}
    try:
        result = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"path": path, "version": None, "error": f"{path} -version failed: {e}"}
    version = parse_java_version(result.stderr + result.stdout)
    error = None if version else f"cannot read a version from '{path} -version' (exit code {result.returncode})"
    return {"path": path, "version": version, "error": error}


def devices():
    """The devices arrays can live on: ``cpu`` always, ``cuda:N`` for each GPU CuPy sees; and why not, if none."""
    from . import backend
    found = [{"device": "cpu", "description": f"{os.cpu_count()} logical cores, {platform.machine()}"}]
    if importlib.util.find_spec("cupy") is None:
        return found, "CuPy is not installed"
    try:
        cupy = backend.import_cupy()
    except RuntimeError as e:
        return found, str(e)
    for index in range(cupy.cuda.runtime.getDeviceCount()):
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        memory = props["totalGlobalMem"] / 2**30
        found.append({"device": f"cuda:{index}", "description": f"{name}, {memory:.1f} GiB"})
    return found, None


def check_spark(master="local[1]"):
    """Start a local Spark session (or use the active one), run a small job; ``{"can_start", seconds...}``."""
    start = time.perf_counter()
    try:
        from pyspark.sql import SparkSession

        from .dist.engines.session import embedded_session
        from .spark_console import quiet_launch
        active = SparkSession.getActiveSession()
        if active is None:
            with quiet_launch():
                spark = embedded_session(master, {"spark.ui.enabled": "false"})
        else:
            spark = active
        started = time.perf_counter()
        total = spark.sparkContext.parallelize(range(100), 2).map(lambda v: v * v).sum()
        finished = time.perf_counter()
        if total != sum(v * v for v in range(100)):
            raise RuntimeError(f"the test job returned {total}, not {sum(v * v for v in range(100))}")
        if active is None:
            spark.stop()
    except Exception as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        return {"can_start": False, "error": f"{type(e).__name__}: {lines[0]}",
                "seconds": round(time.perf_counter() - start, 3)}
    return {"can_start": True, "error": None, "master": "active session" if active is not None else master,
            "start_seconds": round(started - start, 3), "job_seconds": round(finished - started, 3),
            "seconds": round(finished - start, 3)}


def collect(check=False):
    """Everything ``sparktensor info`` reports, as plain values (``--json`` prints exactly this)."""
    from . import __version__
    java = java_info()
    versions = {"sparktensor": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "cupy": cupy_version(), "java": java["version"]}
    versions.update({name: package_version(name) for name in PACKAGES})
    found, cuda_note = devices()
    spark = {"pyspark_found": versions["pyspark"] is not None, "java_found": java["version"] is not None,
             "checked": bool(check), "can_start": None, "problem": _spark_problem(versions["pyspark"], java)}
    if check:
        spark.update(check_spark() if spark["problem"] is None else {"can_start": False})
    return {"versions": versions, "python_executable": sys.executable, "java": java, "devices": found,
            "cuda": cuda_note or "available", "spark": spark}


def _spark_problem(pyspark, java):
    """Why Spark cannot start, as far as can be told without starting it (None when nothing is known wrong)."""
    if pyspark is None:
        return "pyspark is not installed: pip install 'sparktensor[spark]'"
    if java["version"] is None:
        return f"Spark needs a Java runtime: {java['error']}"
    needed, have = SPARK_JAVA.get(int(pyspark.split(".")[0])), java_major(java["version"])
    if needed is not None and have is not None and have < needed:
        return f"PySpark {pyspark} needs Java {needed} or newer, found Java {java['version']} at {java['path']}"
    return None


def format_report(report):
    """``collect()``'s report as aligned lines for people."""
    versions = report["versions"]
    width = max(len(name) for name in versions) + 1
    lines = ["versions:"]
    for name, version in versions.items():
        shown = version if version is not None else "not installed"
        if name == "python":
            shown += f" ({report['python_executable']})"
        if name == "java":
            shown = f"{version} ({report['java']['path']})" if version else f"not found ({report['java']['error']})"
        lines.append(f"  {name + ':':<{width}} {shown}")
    lines.append("devices:")
    lines += [f"  {d['device'] + ':':<{width}} {d['description']}" for d in report["devices"]]
    if report["cuda"] != "available":
        lines.append(f"  {'cuda:':<{width}} none ({report['cuda']})")
    lines.append(f"spark: {_spark_line(report['spark'])}")
    return "\n".join(lines)


def _spark_line(spark):
    if spark["problem"] is not None:
        return f"cannot start: {spark['problem']}"
    if not spark["checked"]:
        return "pyspark and java found (run 'sparktensor info --check-spark' to start a local session)"
    if spark["can_start"]:
        return (f"a local session started in {spark['start_seconds']:.1f} s ({spark['master']}) and ran a job "
                f"in {spark['job_seconds']:.2f} s")
    return f"cannot start: {spark['error']}"
