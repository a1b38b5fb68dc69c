"""The SparkSession sparktensor starts when it is given none: ``embedded_session``."""
import logging
import os
import sys

log = logging.getLogger("sparktensor.dist")


def embedded_session(master=None, conf=None):
    """A SparkSession for this process: Arrow on, Python workers reused, quiet, workers on this interpreter.

    ``master`` None takes the one ``spark-submit`` (or ``PYSPARK_SUBMIT_ARGS``) gave, else ``local[*,4]``.
    The executors' Python is ``$PYSPARK_PYTHON`` when set (e.g. a packed virtualenv shipped with
    ``spark.archives``), else this interpreter.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    from ...spark_console import quiet_launch
    with quiet_launch():  # a JVM started here logs at WARN, without the four lines of every start
        SparkContext._ensure_initialized()  # the JVM (spark-submit's own when there is one) holds the settings
    given = SparkConf()  # what spark-submit, PYSPARK_SUBMIT_ARGS or spark-defaults.conf set: it wins over ours
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if master is None:  # spark-submit's master, not its default local[*] (which retries no failed task)
        master = given.get("spark.master", None) if submitted else "local[*,4]"
    # Spark starts Python workers with `python3` from PATH unless told; they need this interpreter's packages
    python = os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(max(2, os.cpu_count() or 2)),
        "spark.driver.memory": "2g",
    }
    settings = {key: value for key, value in settings.items() if not given.contains(key)}
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName("sparktensor")
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("started an embedded Spark session, master %s", master)
    return spark
