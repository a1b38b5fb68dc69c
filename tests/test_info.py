"""``sparktensor info``: versions, devices and the Spark check, for people and as JSON."""
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import sparktensor as st
from sparktensor import cli, info


def _installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_json_report_has_the_installed_versions(capsys):
    assert cli.main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    versions = report["versions"]
    assert versions["sparktensor"] == st.__version__
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == np.__version__
    for name in ("pyspark", "dask", "distributed", "torch", "pyarrow"):
        assert versions[name] == _installed(name), name
    if importlib.util.find_spec("cupy") is None:
        assert versions["cupy"] is None and report["cuda"] == "CuPy is not installed"
    assert report["devices"][0]["device"] == "cpu"
    cuda = [d["device"] for d in report["devices"][1:]]
    assert cuda == [f"cuda:{i}" for i in range(len(cuda))]
    assert (len(cuda) > 0) == st.cuda_is_available()
    assert report["spark"]["checked"] is False and report["spark"]["can_start"] is None
    assert report["spark"]["pyspark_found"] == (versions["pyspark"] is not None)


def test_human_report_lists_every_version_and_device(capsys):
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    report = info.collect()
    for name, version in report["versions"].items():
        shown = version if version is not None else "not installed"
        assert any(line.strip().startswith(f"{name}:") and (shown in line or name == "java")
                   for line in text.splitlines()), (name, text)
    assert "cpu:" in text and f"{os.cpu_count()} logical cores" in text
    assert text.splitlines()[-1].startswith("spark: ")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_java_is_found_as_spark_would_find_it():
    java = info.java_info()
    if java["path"] is None:
        assert "JAVA_HOME" in java["error"] or "PATH" in java["error"]
        return
    result = subprocess.run([java["path"], "-version"], capture_output=True, text=True)
    assert java["version"] and java["version"] in result.stderr + result.stdout
    assert info.java_major(java["version"]) >= 8


@pytest.mark.parametrize("output, version, major", [
    ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', "17.0.15", 17),
    ('java version "1.8.0_392"\nJava(TM) SE Runtime Environment', "1.8.0_392", 8),
    ('openjdk version "21" 2023-09-19', "21", 21),
    ("openjdk 11.0.2 2019-01-15\n", "11.0.2", 11),
    ("Error: could not find libjava.so", None, None),
])
def test_java_version_output_is_parsed(output, version, major):
    assert info.parse_java_version(output) == version
    assert info.java_major(version) == major


def test_missing_java_is_reported_without_starting_spark(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a JAVA_HOME without bin/java
    report = info.collect(check=True)
    assert report["versions"]["java"] is None
    assert report["spark"]["can_start"] is False
    assert f"JAVA_HOME={tmp_path} has no bin/java" in report["spark"]["problem"]
    assert "start_seconds" not in report["spark"]
    assert cli.main(["info"]) == 0
    assert "spark: cannot start: Spark needs a Java runtime" in capsys.readouterr().out


def test_old_java_is_reported_for_spark_4():
    problem = info._spark_problem("4.3.0", {"path": "/opt/java8/bin/java", "version": "1.8.0_392", "error": None})
    assert problem == "PySpark 4.3.0 needs Java 17 or newer, found Java 1.8.0_392 at /opt/java8/bin/java"
    assert info._spark_problem(None, {"version": "17"}).startswith("pyspark is not installed")


def test_check_spark_starts_a_session_and_runs_a_job():
    """In a fresh interpreter: this test process may own a SparkContext already."""
    if importlib.util.find_spec("pyspark") is None or info.java_info()["version"] is None:
        pytest.skip("pyspark and a Java runtime are needed")
    result = subprocess.run([sys.executable, "-m", "sparktensor.cli", "info", "--check-spark", "--json"],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    spark = json.loads(result.stdout)["spark"]
    assert spark["checked"] is True and spark["can_start"] is True, spark
    assert spark["error"] is None and spark["master"] == "local[1]"
    assert 0 < spark["start_seconds"] < spark["seconds"] and spark["job_seconds"] > 0
