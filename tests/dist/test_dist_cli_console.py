"""The Spark that the ``sparktensor`` command starts is quiet at WARN, and logging can still be turned up."""
import importlib.util
import subprocess
import sys
import textwrap

import pytest

HAVE_SPARK = all(importlib.util.find_spec(m) is not None for m in ("pyspark", "pyarrow", "pandas"))
SPARK_SKIP = "pyspark, pyarrow and pandas are needed: pip install 'sparktensor[spark]'"

NOISES = ["Using incubator modules", "Using Spark's default log4j profile", "resolves to a loopback address",
          "SPARK_LOCAL_IP", "NativeCodeLoader"]
SCRIPT = textwrap.dedent("""
    import sys
    from sparktensor import cli
    engine = cli.spark_engine(None)
    engine.spark.range(10).count()
    print("-- turning logging up --", file=sys.stderr, flush=True)
    engine.spark.sparkContext.setLogLevel("INFO")
    engine.spark.range(10).count()
    engine.spark.stop()
""")


@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_SKIP)
def test_the_commands_spark_starts_without_the_four_noises_and_logs_more_when_asked(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    quiet, _, loud = done.stderr.partition("-- turning logging up --")
    assert loud, done.stderr
    for noise in NOISES:
        assert noise not in done.stderr, f"{noise!r} in:\n{done.stderr}"
    assert " INFO " not in quiet and " INFO " in loud, done.stderr
