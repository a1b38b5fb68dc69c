"""Runs dist jobs through a Spark Connect session (``remote("local[2]")``) in its own process, for the tests.

Usage: ``python connect_runner.py URL``. The local Connect server lives in this process's JVM, which cannot
share a process with the tests' classic SparkContext. Prints ``@@ready`` once the session is up, then answers
one JSON request per line (``{"job": name, "kwargs": {...}}``) with ``@@result <json>``, like
``cluster_runner.py``; ``{"job": "stop"}`` stops the session and exits.
"""
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def engine_kind(spark):
    """What ``SparkEngine`` gives for the session, and whether the session has a SparkContext."""
    import sparktensor.dist as dist
    engine = dist.SparkEngine(spark)
    try:
        spark.sparkContext
        has_context = True
    except Exception:  # noqa: BLE001 - Connect raises JVM_ATTRIBUTE_NOT_SUPPORTED
        has_context = False
    return {"engine": type(engine).__name__, "session": type(spark).__module__, "workers": engine.workers,
            "has_context": has_context}


def train_numpy(spark, rounds, direct, threshold=None):
    """Parameter averaging of the digits MLP on ``from_numpy`` data; the weights."""
    import sparktensor.dist as dist
    from dist_helpers import train_digits, weights
    engine = dist.SparkEngine(spark, direct=direct)
    if threshold is not None:  # send small arrays over the driver channel too
        engine.direct_threshold = threshold
    with engine:
        model, _, history = train_digits(engine, rounds=rounds)
    return {"weights": weights(model).tolist(), "loss": history["loss"]}


def train_dataframe(spark, rounds, partitions, drop_files_after=None):
    """Parameter averaging on ``from_dataframe`` data kept on the executors (``partitions`` source partitions,
    re-cut to 2 on the cluster); the weights and the in-process reference's on the same blocks. With
    ``drop_files_after``, the executors' block files are deleted after that round (as when an executor is
    replaced): the next round must rebuild them from Spark's cached rows."""
    import functools

    import numpy as np
    import pandas as pd

    import sparktensor.dist as dist
    from dist_helpers import digits, train_digits, weights
    x, y = digits()
    frame = spark.createDataFrame(pd.DataFrame({"pixels": list(x[:1500].astype(np.float64)), "label": y[:1500]}))
    data = dist.from_dataframe(frame.repartition(partitions), features="pixels", label="label")
    try:
        held_x, held_y = data.to_blocks().arrays()
        reference = dist.from_numpy(held_x, held_y, partitions=data.counts)
        def drop_files(record):
            if record["round"] == drop_files_after:
                from sparktensor.dist.data.connect import _STATS, _delete_task
                trained = data.repartition(2)
                trained.tasks().mapInArrow(functools.partial(_delete_task, trained.key), _STATS).collect()

        import logging
        warnings = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: warnings.append(record.getMessage())
        logging.getLogger("sparktensor.dist").addHandler(handler)
        try:
            with dist.SparkEngine(spark) as engine:
                model, _, history = train_digits(engine, rounds=rounds, data=data, callback=drop_files)
        finally:
            logging.getLogger("sparktensor.dist").removeHandler(handler)
        local, _, _ = train_digits(dist.LocalEngine(), rounds=rounds, data=reference)
        return {"weights": weights(model).tolist(), "local": weights(local).tolist(), "counts": data.counts,
                "kind": type(data).__name__, "loss": history["loss"], "warnings": warnings}
    finally:
        data.release()


def hybrid(spark, rounds):
    """HybridTrainer on a 1 x 2 mesh (a barrier mapInArrow gang); the trained state dict."""
    import sparktensor.dist as dist
    from test_dist_connect import hybrid_run
    with dist.SparkEngine(spark) as engine:
        state, history = hybrid_run(engine, rounds)
    return {"state": {k: v.tolist() for k, v in state.items()}, "loss": history["loss"]}


def gang_failure(spark):
    """A gang whose rank 1 raises: the error the client gets."""
    import sparktensor.dist as dist
    from test_dist_connect import failing_rank
    try:
        dist.SparkEngine(spark).run_gang(failing_rank, 2)
    except Exception as e:  # noqa: BLE001 - reported to the test
        return {"type": type(e).__name__, "message": str(e), "rank": getattr(e, "rank", None)}
    return {"type": None}


def cli_train(spark, args):
    """``sparktensor train ... --remote URL`` (the session is this one: getOrCreate reuses it)."""
    from sparktensor import cli
    return {"code": cli.main(args)}


def ml_fit_transform(spark, epochs):
    """``SparkTensorClassifier`` fitted and applied over Connect on two separable classes: the trained weights,
    the features, the columns ``transform`` added, and the predictions of the model saved and loaded again."""
    import numpy as np
    import pandas as pd

    from sparktensor.ml import SparkTensorClassifier
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    frame = spark.createDataFrame(pd.DataFrame({"features": list(x), "label": y}))
    model = SparkTensorClassifier(model="mlp", epochs=epochs, seed=1, workers=2).fit(frame)
    rows = model.transform(frame).toPandas()
    import tempfile
    from sparktensor.ml import SparkTensorClassificationModel
    with tempfile.TemporaryDirectory() as folder:
        model.write().save(f"{folder}/model")
        reloaded = SparkTensorClassificationModel.load(f"{folder}/model").transform(frame).toPandas()
    return {"reloaded": reloaded["prediction"].tolist(), "weights": {k: v.tolist() for k, v in model.weights.items()}, "input_shape": model.getInputShape(),
            "features": np.stack(rows["features"].to_numpy()).tolist(), "label": rows["label"].tolist(),
            "probability": [list(v.toArray()) for v in rows["probability"]],
            "prediction": rows["prediction"].tolist()}


def murmur(spark, values, partitions):
    """Spark's own partition for each int ``values`` under ``repartition(partitions, col)``."""
    from pyspark.sql import functions as F
    frame = spark.createDataFrame([(int(v),) for v in values], "v int").repartition(partitions, "v")
    rows = frame.select("v", F.spark_partition_id().alias("p")).collect()
    return {str(row.v): row.p for row in rows}


def main(url):
    from sparktensor.dist.engines.connect import connect_session
    spark = connect_session(url)
    print("@@ready", flush=True)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request["job"] == "stop":
                break
            try:
                result = {"ok": globals()[request["job"]](spark, **request.get("kwargs", {}))}
            except Exception:  # noqa: BLE001 - reported to the test
                result = {"error": traceback.format_exc()}
            print("@@result " + json.dumps(result), flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
