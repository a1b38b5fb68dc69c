"""Training through Spark Connect (``SparkSession.builder.remote("local[2]")``): DataFrame APIs only, the same
bits as ``LocalEngine`` for parameter averaging (from_numpy and from_dataframe data), a 1 x 2 model-parallel
gang and the main job through the CLI's ``--remote``.

The local Connect server runs in the JVM of the process that starts it, which cannot also hold the tests'
classic SparkContext: the Connect jobs run in a subprocess (``connect_runner.py``), started once per module.
"""
import json
import os
import sys
import threading

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from conftest import HAVE_SPARK, SPARK_SKIP, ClusterRunner
from dist_helpers import train_digits, weights

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "connect_runner.py")


def hybrid_run(engine, rounds):
    """HybridTrainer with Adam on a 1 x 2 mesh; the trained state dict and the history."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 8))
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)
    st.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=0.01),
                                 mesh=dist.Mesh(data=1, model=2), batch_size=8, seed=3, engine=engine)
    model, history = trainer.fit(dist.from_numpy(x, y, partitions=1), rounds=rounds)
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}, history


def failing_rank(comm):
    if comm.rank == 1:
        raise ValueError("rank one gives up")
    return comm.rank


class ConnectRunner(ClusterRunner):
    """A ``connect_runner.py`` subprocess (same protocol as the local-cluster runner)."""

    def __init__(self, url):
        import queue
        import subprocess
        import tempfile
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sparktensor-connect-", suffix=".log", delete=False)
        self.process = subprocess.Popen([sys.executable, RUNNER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = False


@pytest.fixture(scope="module")
def connect():
    if not HAVE_SPARK:
        pytest.skip(SPARK_SKIP)
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect]")
    runner = ConnectRunner("local[2]")
    yield runner
    runner.close()


def test_spark_engine_on_a_connect_session_uses_no_spark_context(connect):
    found = connect.call("engine_kind")
    assert found == {"engine": "ConnectEngine", "session": "pyspark.sql.connect.session", "workers": 2,
                     "has_context": False}


@pytest.mark.parametrize("direct, threshold", [(True, 1000), (False, None)], ids=["driver-channel", "in-the-job"])
def test_parameter_averaging_on_numpy_data_equals_local_engine(connect, direct, threshold):
    remote = connect.call("train_numpy", rounds=3, direct=direct, threshold=threshold)
    model, _, history = train_digits(dist.LocalEngine(), rounds=3)
    np.testing.assert_array_equal(np.array(remote["weights"], np.float32), weights(model))
    assert remote["loss"] == history["loss"]


def test_parameter_averaging_on_dataframe_data_kept_on_the_executors(connect):
    """Cut from 3 partitions to 2 on the cluster; the block files vanish after round 2 and are rebuilt."""
    remote = connect.call("train_dataframe", rounds=3, partitions=3, drop_files_after=2)
    assert remote["kind"] == "ConnectResidentData" and remote["counts"] == [500, 500, 500]
    assert any("not on their executors' disks" in w for w in remote["warnings"])
    np.testing.assert_array_equal(np.array(remote["weights"], np.float32), np.array(remote["local"], np.float32))


def test_model_parallel_gang_of_two_equals_local_engine(connect):
    remote = connect.call("hybrid", rounds=4)
    expected, history = hybrid_run(dist.LocalEngine(), 4)
    assert list(remote["state"]) == list(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(np.array(remote["state"][key]), value, err_msg=key)
    assert remote["loss"] == history["loss"]


def test_a_failing_rank_is_named(connect):
    failure = connect.call("gang_failure")
    assert failure["type"] == "GangError" and failure["rank"] == 1
    assert "rank 1 of 2 failed: ValueError: rank one gives up" in failure["message"]


def test_ml_estimator_fits_and_transforms_over_connect(connect):
    """Fit converts on the executors (``map_chunks`` over the chunk DataFrame), transform ships the network
    without a SparkContext; the predictions are the returned weights' own, computed here, and survive a save
    and load through Spark ML's persistence."""
    from sparktensor.ml import SparkTensorClassificationModel
    remote = connect.call("ml_fit_transform", epochs=30)
    model = SparkTensorClassificationModel(weights={k: np.array(v, np.float32) for k, v in remote["weights"].items()})
    model._set(model="mlp", inputShape=remote["input_shape"], numOutputs=2)
    x = np.array(remote["features"], np.float32)
    with st.no_grad():
        logits = model.network()(st.tensor(x)).numpy().astype(np.float64)
    np.testing.assert_array_equal(np.array(remote["prediction"]), logits.argmax(axis=1))
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    # float32 logits: the executors compute them in other batches than here, and a product's rounding may differ
    # with the batch's shape (the BLAS kernel chosen), so the probabilities agree to float32's precision
    np.testing.assert_allclose(np.array(remote["probability"]), expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-4)
    assert np.mean(np.array(remote["prediction"]) == np.array(remote["label"])) > 0.9
    assert remote["reloaded"] == remote["prediction"]


def test_slot_values_land_in_their_partitions(connect):
    from sparktensor.dist.data.connect import slot_values
    for partitions in (1, 2, 3, 7):
        slots = slot_values(partitions)
        placed = connect.call("murmur", values=slots, partitions=partitions)
        assert [placed[str(v)] for v in slots] == list(range(partitions))


def test_the_main_job_through_the_cli_remote_flag(connect, tmp_path):
    common = ["train", "--model", "lenet", "--dataset", "fashion-mnist", "--limit", "2000", "--epochs", "1"]
    remote_out, local_out = tmp_path / "remote", tmp_path / "local"
    answer = {}
    # the Connect run and the in-process reference run side by side
    thread = threading.Thread(target=lambda: answer.update(connect.call(
        "cli_train", args=common + ["--remote", "local[2]", "--out", str(remote_out)])))
    thread.start()
    from sparktensor import cli
    assert cli.main(common + ["--engine", "local", "--out", str(local_out)]) == 0
    thread.join()
    assert answer == {"code": 0}
    remote, local = (st.load(str(out / "model.safetensors")) for out in (remote_out, local_out))
    assert list(remote) == list(local)
    for key in local:
        np.testing.assert_array_equal(remote[key].numpy(), local[key].numpy(), err_msg=key)
    histories = [json.loads((out / "history.json").read_text()) for out in (remote_out, local_out)]
    assert [r["loss"] for r in histories[0]] == [r["loss"] for r in histories[1]]
    assert histories[0][-1]["accuracy"] == histories[1][-1]["accuracy"]


def test_train_on_a_parquet_table_and_predict_through_the_cli_remote_flag(connect, tmp_path):
    """``train --data`` and ``predict`` over Connect: the executors convert, train and predict; the predictions
    are those of the saved weights, computed here."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sparktensor import cli
    from dist_helpers import digits
    x, y = digits()
    x, y = x[:600], y[:600]
    table = tmp_path / "digits.parquet"
    pq.write_table(pa.table({"pixels": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 64), "digit": y}), table)
    out, predictions = tmp_path / "run", tmp_path / "predictions"
    trained = connect.call("cli_train", args=["train", "--data", str(table), "--features", "pixels", "--label",
                                              "digit", "--feature-shape", "64", "--model", "mlp", "--workers", "2",
                                              "--tau", "5", "--epochs", "4", "--lr", "0.01", "--remote", "local[2]",
                                              "--out", str(out)])
    assert trained == {"code": 0}
    predicted = connect.call("cli_train", args=["predict", "--model-dir", str(out), "--data", str(table), "--out",
                                                str(predictions), "--remote", "local[2]"])
    assert predicted == {"code": 0}
    written = pd.read_parquet(predictions).sort_values("digit", kind="stable")
    assert list(written.columns) == ["pixels", "digit", "prediction"] and len(written) == 600
    network = cli.network((64,), 10, model="mlp")
    network.load_state_dict(st.load(str(out / "model.safetensors")))
    pixels = np.stack(written["pixels"].to_numpy()).astype(np.float32)
    expected = network.eval()(st.tensor(pixels)).numpy().argmax(axis=1)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected)
