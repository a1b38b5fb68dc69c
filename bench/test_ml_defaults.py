"""``SparkTensorClassifier()`` with every default against Spark's ``MultilayerPerceptronClassifier`` and
``LogisticRegression`` on small tables: accuracy and wall time of ``fit``.

Each classifier is the last stage of the same Pipeline (VectorAssembler, StandardScaler with Spark's
defaults) on the same fixed split (70% train, shuffled with seed 0) of scikit-learn's iris (150 rows, 4
features, 3 classes) and breast cancer (569 rows, 30 features, 2 classes), on a ``local[2]`` session. MLPC
has one hidden layer of 64 (``layers=[n, 64, classes]``, ``seed=0``), LogisticRegression its defaults, and
SparkTensorClassifier none set. Every pipeline is fitted once to warm up (Python workers started), then
``ROUNDS`` times, interleaved, the order flipped every round so a drift of the machine favours none.
Goal: accuracy within one point of MLPC's, and a median fit no slower than MLPC's.

Run: ``python -m pytest bench/test_ml_defaults.py --benchmark-only -s -q``.
"""
import pathlib
import statistics
import sys
import time

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from figures import save_figures  # noqa: E402

pytest.importorskip("pyspark")
pytest.importorskip("sklearn")

ROUNDS = 3
DATASETS = ("iris", "breast_cancer")


def _frames(spark, name):
    from sklearn import datasets
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    columns = [f"x{i}" for i in range(x.shape[1])]
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]),) for i in order]
    schema = ", ".join(f"{c} double" for c in columns) + ", label long"
    cut = int(0.7 * len(rows))
    train, test = spark.createDataFrame(rows[:cut], schema).cache(), spark.createDataFrame(rows[cut:], schema).cache()
    train.count(), test.count()
    return columns, int(y.max()) + 1, train, test


def _pipelines(columns, classes):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, MultilayerPerceptronClassifier
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    from sparktensor.ml import SparkTensorClassifier
    stages = {"SparkTensorClassifier()": SparkTensorClassifier(),
              "MLPC [n, 64, classes]": MultilayerPerceptronClassifier(layers=[len(columns), 64, classes], seed=0),
              "LogisticRegression()": LogisticRegression()}
    return {name: Pipeline(stages=[VectorAssembler(inputCols=columns, outputCol="raw"),
                                   StandardScaler(inputCol="raw", outputCol="features"), stage])
            for name, stage in stages.items()}


def _fit(pipeline, train, test):
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    start = time.perf_counter()
    model = pipeline.fit(train)
    seconds = time.perf_counter() - start
    rounds = len(getattr(model.stages[-1], "history", None) or [])  # SparkTensorClassifier's rounds of tau steps
    return seconds, MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(test)), rounds


@pytest.mark.benchmark(group="Spark ML defaults on small tables: accuracy and fit time against MLPC and LR")
def test_defaults_against_spark_classifiers(benchmark):
    from sparktensor.dist.engines.session import embedded_session
    spark = embedded_session("local[2]")
    spark.sparkContext.setLogLevel("OFF")  # MLPC's L-BFGS logs each failed line search as an ERROR
    cases = {}
    for name in DATASETS:
        columns, classes, train, test = _frames(spark, name)
        for stage, pipeline in _pipelines(columns, classes).items():
            cases[(name, stage)] = (pipeline, train, test)
    for case in cases.values():  # warm-up
        _fit(*case)
    seconds, accuracy, rounds_run = ({key: [] for key in cases} for _ in range(3))

    def rounds():
        order = list(cases.items())
        for r in range(ROUNDS):  # the order flips every round
            for key, case in (order if r % 2 == 0 else order[::-1]):
                t, a, n = _fit(*case)
                seconds[key].append(t)
                accuracy[key].append(a)
                rounds_run[key].append(n)

    benchmark.pedantic(rounds, rounds=1)
    print(f"\n| data | classifier | test accuracy | fit seconds (median, min-max of {ROUNDS}) | rounds of tau |")
    print("|---|---|---|---|---|")
    figures = {}
    for key in cases:
        times = seconds[key]
        print(f"| {key[0]} | {key[1]} | {statistics.median(accuracy[key]):.4f} | "
              f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) | "
              f"{statistics.median(rounds_run[key]) if rounds_run[key][0] else ''} |")
        figures[f"{key[0]}/{key[1]}"] = {"seconds": times, "accuracy": accuracy[key], "rounds": rounds_run[key]}
    save_figures("ml_defaults", figures)
    for name in DATASETS:
        ours, mlpc = (name, "SparkTensorClassifier()"), (name, "MLPC [n, 64, classes]")
        assert statistics.median(accuracy[ours]) >= statistics.median(accuracy[mlpc]) - 0.01, name
        assert statistics.median(seconds[ours]) <= statistics.median(seconds[mlpc]), name
