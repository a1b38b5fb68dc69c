"""The Spark that the ``sparktensor`` command (or ``dist.SparkEngine()`` without a session) starts is quiet at
WARN, and logging can still be turned up."""
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
@pytest.mark.parametrize("start", ["cli.spark_engine(None)", "dist.SparkEngine(master='local[1]')"],
                         ids=["the-command", "an-embedded-session"])
def test_the_spark_we_start_has_none_of_the_four_noises_and_logs_more_when_asked(tmp_path, start):
    script = SCRIPT.replace("cli.spark_engine(None)", start).replace("from sparktensor import cli",
                                                                      "from sparktensor import cli, dist")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    quiet, _, loud = done.stderr.partition("-- turning logging up --")
    assert loud, done.stderr
    for noise in NOISES:
        assert noise not in done.stderr, f"{noise!r} in:\n{done.stderr}"
    assert " INFO " not in quiet and " INFO " in loud, done.stderr
